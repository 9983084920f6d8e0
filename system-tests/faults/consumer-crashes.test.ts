import { Redis } from 'ioredis';
import { afterEach, expect, it, vi } from 'vitest';
import { redisKeys } from '@livevote/contract';
import { createTestEnv, startStack, type Stack, type TestEnv, castMany, results } from '@livevote/harness';
import { figure } from './figures.ts';
import { appliedCount, pendingCount, startMayCrash, tallyTotal, VotePourer } from './harness.ts';

let env: TestEnv | undefined;
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  await env?.cleanup();
  stack = undefined;
  env = undefined;
});

for (const shards of [null, 3] as const) {
  it(`consumer SIGKILL every few seconds across two consumers during 20,000 votes${shards ? `, STREAM_SHARDS=${shards}` : ''}: 2xx = counted = applied`, async () => {
    env = await createTestEnv(shards ? 'fault_kills_sharded' : 'fault_kills');
    stack = await startStack({ ...env, consumers: 2, env: { RATE_LIMIT: 'off', ...(shards ? { STREAM_SHARDS: String(shards) } : {}) }, consumerEnv: { CLAIM_IDLE_MS: '1500', CLAIM_EVERY_MS: '500', BATCH_SIZE: '200' } });
    const s = stack;
    const pour = new VotePourer(s.url, 32, 20_000);
    pour.start();
    let kills = 0;
    const started = Date.now();
    while (pour.sent < 20_000) {
      // Kill each time another ~1,500 votes were counted: every few seconds, always mid-stream.
      const seen = await tallyTotal(env.databaseUrl);
      await vi.waitFor(async () => expect((await tallyTotal(env!.databaseUrl)) >= seen + 1500 || pour.sent >= 20_000, 'progress').toBe(true), { timeout: 60_000 });
      if (pour.sent >= 20_000) break;
      const victim = s.consumers[kills % 2]!;
      await victim.kill();
      kills++;
      await victim.start();
    }
    await pour.finish();
    const accepted = pour.accepted.size;
    await expect.poll(() => tallyTotal(env!.databaseUrl), { message: 'all counted', timeout: 60_000 }).toBeGreaterThanOrEqual(accepted);
    await expect.poll(() => pendingCount(env!.redisUrl, env!.redisPrefix, shards), { message: 'nothing pending', timeout: 30_000 }).toBe(0);
    const counted = await tallyTotal(env.databaseUrl);
    const applied = await appliedCount(env.databaseUrl);
    figure(shards ? `consumer kills, STREAM_SHARDS=${shards}` : 'consumer kills', { votes2xx: accepted, counted, applied, kills, pending: 0, seconds: (Date.now() - started) / 1000 });
    expect(accepted).toBe(20_000);
    expect(counted).toBe(accepted);
    expect(applied).toBe(accepted);
    expect(kills).toBeGreaterThanOrEqual(4);
  });
}

it('crash between COMMIT and XACK forced 100 times: re-deliveries leave the tallies unchanged', async () => {
  env = await createTestEnv('fault_commit_crash');
  // Batches of 5, and a 60 % chance to exit right after each COMMIT, before its XACK.
  stack = await startStack({ ...env, consumers: 0, env: { RATE_LIMIT: 'off' }, consumerEnv: { FAULT_EXIT_AFTER_COMMIT: '0.6', BATCH_SIZE: '5' } });
  // Enough votes that the consumer never runs dry before its 100th crash (~8 votes per life).
  const n = 3000;
  const cast = await castMany(stack.url, n, 32);
  expect(cast.every((o) => o.status === 202)).toBe(true);
  await stack.addConsumer().catch(() => {});
  const consumer = stack.consumers[0]!;
  let crashes = 0;
  for (;;) {
    const code = consumer.running ? await consumer.waitExit() : consumer.exits.at(-1);
    if (code !== 86) throw new Error(`consumer exited with ${code}:\n${consumer.output()}`);
    crashes++;
    if (crashes >= 100) break;
    await startMayCrash(consumer);
  }
  const countedAtLastCrash = await tallyTotal(env.databaseUrl);
  consumer.options.env.FAULT_EXIT_AFTER_COMMIT = '0';
  await consumer.start();
  await expect.poll(() => tallyTotal(env!.databaseUrl), { message: 'all counted', timeout: 60_000 }).toBeGreaterThanOrEqual(n);
  await expect.poll(() => pendingCount(env!.redisUrl, env!.redisPrefix), { message: 'nothing pending', timeout: 15_000 }).toBe(0);
  const r = await vi.waitFor(async () => {
    const t = await results(stack!.url);
    expect(t.total, 'results current').toBeGreaterThanOrEqual(n);
    return t;
  }, { timeout: 15_000, interval: 50 });
  const applied = await appliedCount(env.databaseUrl);
  figure('crash between COMMIT and XACK', { votes2xx: n, crashes, countedAtLastCrash, counted: r.total, applied });
  expect(countedAtLastCrash).toBeLessThan(n);
  expect(r.total).toBe(n);
  expect(applied).toBe(n);
});

it('poison entries land in the dead-letter stream after MAX_DELIVERIES; the good ones are all counted', async () => {
  env = await createTestEnv('fault_poison');
  stack = await startStack({
    ...env,
    env: { RATE_LIMIT: 'off' },
    consumerEnv: { FAULT_REJECT_VID_PREFIX: 'poison-', MAX_DELIVERIES: '3', CLAIM_IDLE_MS: '1000', CLAIM_EVERY_MS: '250', BATCH_SIZE: '50' },
  });
  const redis = new Redis(env.redisUrl);
  const keys = redisKeys(env.redisPrefix);
  const ts = String(Date.now());
  let good = 0;
  for (let i = 0; i < 500; i++) {
    const poison = i % 50 === 7;
    if (!poison) good++;
    await redis.xadd(keys.votes, '*', 'vid', `${poison ? 'poison' : 'good'}-${i}-vote`, 'option', i % 2 ? 'cats' : 'dogs', 'ts', ts);
  }
  const dead = await vi.waitFor(async () => {
    const rows = await redis.xrange(keys.deadLetter, '-', '+');
    expect(rows.length, 'ten poison entries dead-lettered').toBeGreaterThanOrEqual(10);
    return rows;
  }, { timeout: 60_000, interval: 50 });
  const fields = dead.map(([, f]) => Object.fromEntries(f.reduce<string[][]>((acc, v, i) => (i % 2 ? acc : [...acc, [v, f[i + 1]!]]), [])));
  await expect.poll(() => tallyTotal(env!.databaseUrl), { message: 'good votes counted', timeout: 15_000 }).toBe(good);
  await expect.poll(() => pendingCount(env!.redisUrl, env!.redisPrefix), { message: 'nothing pending', timeout: 15_000 }).toBe(0);
  redis.disconnect();
  figure('poison entries', { poison: 10, deadLettered: dead.length, deliveries: fields.map((f) => Number(f.deliveries)), good, counted: await tallyTotal(env.databaseUrl) });
  expect(dead).toHaveLength(10);
  for (const f of fields) {
    expect(f['f.vid']).toMatch(/^poison-/);
    expect(f.reason).toBe('max-deliveries');
    expect(Number(f.deliveries)).toBeGreaterThan(3);
  }
});

it('entries that crash the consumer outside PostgreSQL: each dead-lettered after MAX_CRASHES crashes, kept for replay; the others counted', async () => {
  env = await createTestEnv('fault_crash_poison');
  // The hook throws from the event loop, outside PostgreSQL and outside any try: the process dies
  // (exit 1) as on a bug, and is started again under its name, as a container restart would.
  stack = await startStack({
    ...env,
    consumers: 0,
    env: { RATE_LIMIT: 'off' },
    consumerEnv: { FAULT_CRASH_VID_PREFIX: 'crash-', MAX_CRASHES: '3', BATCH_SIZE: '50', CLAIM_IDLE_MS: '1000', CLAIM_EVERY_MS: '250' },
  });
  const redis = new Redis(env.redisUrl);
  const keys = redisKeys(env.redisPrefix);
  const ts = String(Date.now());
  const poisonAt = new Set([40, 140, 240]);
  for (let i = 0; i < 300; i++) {
    await redis.xadd(keys.votes, '*', 'vid', `${poisonAt.has(i) ? 'crash' : 'fine'}-${i}-vote`, 'option', i % 2 ? 'cats' : 'dogs', 'ts', ts);
  }
  await stack.addConsumer().catch(() => {});
  const consumer = stack.consumers[0]!;
  let crashes = 0;
  // Bounded: without a limit per entry the consumer crashes on the first one for ever.
  while ((await redis.xlen(keys.deadLetter)) < poisonAt.size || (await tallyTotal(env.databaseUrl)) < 300 - poisonAt.size) {
    if (crashes > 3 * poisonAt.size) throw new Error(`${crashes} crashes and still going:\n${consumer.output().slice(-3000)}`);
    const code = await Promise.race([consumer.running ? consumer.waitExit() : Promise.resolve(consumer.exits.at(-1) ?? null), new Promise<'alive'>((r) => setTimeout(r, 250, 'alive'))]);
    if (code === 'alive') continue;
    if (code !== 1) throw new Error(`consumer exited with ${code}:\n${consumer.output().slice(-3000)}`);
    crashes++;
    await startMayCrash(consumer);
  }
  await expect.poll(() => pendingCount(env!.redisUrl, env!.redisPrefix), { message: 'nothing pending', timeout: 15_000 }).toBe(0);
  const dead = (await redis.xrange(keys.deadLetter, '-', '+')).map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 ? [] : [[v, f[i + 1]!]]))));
  // The counter and the log line follow the dead-letter write: wait for them, never read once.
  const logLines = () => consumer.output().split('\n').filter((l) => l.includes('crashed the consumer')).length;
  await expect.poll(logLines, { message: 'a log line per entry', timeout: 10_000 }).toBe(poisonAt.size);
  await expect
    .poll(async () => (await (await fetch(`http://127.0.0.1:${consumer.options.env.PORT}/metrics`)).text()).match(/livevote_consumer_dead_lettered_total\{reason="crashed"\} (\d+)/)?.[1], { message: 'the last life counted its dead letter', timeout: 10_000 })
    .toBe('1');
  const logged = logLines();
  redis.disconnect();
  figure('entries that crash the consumer', { poison: poisonAt.size, crashes, deadLettered: dead.length, reasons: dead.map((f) => f.reason), crashesPerEntry: dead.map((f) => Number(f.crashes)), counted: await tallyTotal(env.databaseUrl), logged });
  expect(crashes).toBe(3 * poisonAt.size);
  expect(dead.map((f) => f['f.vid'])).toEqual(['crash-40-vote', 'crash-140-vote', 'crash-240-vote']);
  for (const f of dead) {
    expect(f.reason).toBe('crashed');
    expect(Number(f.crashes)).toBe(3);
    // Replayable as the runbook does it: the vote's own fields, as written.
    expect(f).toMatchObject({ 'f.option': expect.stringMatching(/^(cats|dogs)$/), 'f.ts': ts });
  }
  expect(await tallyTotal(env.databaseUrl)).toBe(300 - poisonAt.size);
});

it('trimming under a backlog never removes an unread entry', async () => {
  env = await createTestEnv('fault_trim');
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' }, consumerEnv: { TRIM_EVERY_MS: '100', BATCH_SIZE: '100' } });
  const s = stack;
  const consumer = s.consumers[0]!;
  const redis = new Redis(env.redisUrl);
  const keys = redisKeys(env.redisPrefix);
  // Phase 1: votes flow and get trimmed. Phase 2: the consumer hangs while a backlog builds,
  // then resumes; it trims as it works through it.
  expect((await castMany(s.url, 3000, 32)).every((o) => o.status === 202)).toBe(true);
  await expect.poll(() => tallyTotal(env!.databaseUrl), { message: 'first 3000 counted', timeout: 15_000 }).toBe(3000);
  consumer.pause();
  expect((await castMany(s.url, 5000, 32)).every((o) => o.status === 202)).toBe(true);
  const backlog = await redis.xlen(keys.votes);
  consumer.resume();
  let minLen = backlog;
  await vi.waitFor(async () => {
    minLen = Math.min(minLen, await redis.xlen(keys.votes));
    expect(await tallyTotal(env!.databaseUrl), 'backlog counted').toBeGreaterThanOrEqual(8000);
  }, { timeout: 60_000, interval: 20 });
  const finalLen = await vi.waitFor(async () => {
    const len = await redis.xlen(keys.votes);
    expect(len, 'stream trimmed after the backlog').toBeLessThan(200);
    return len;
  }, { timeout: 15_000, interval: 50 });
  redis.disconnect();
  const counted = await tallyTotal(env.databaseUrl);
  figure('trim under backlog', { votes2xx: 8000, counted, backlogLength: backlog, finalLength: finalLen });
  expect(backlog).toBeGreaterThanOrEqual(5000);
  expect(counted).toBe(8000);
});
