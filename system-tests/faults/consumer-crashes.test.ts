import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { redisKeys } from '@livevote/contract';
import { createTestEnv, startStack, type Stack, type TestEnv, castMany, results, waitFor } from '@livevote/harness';
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

it('consumer SIGKILL every few seconds across two consumers during 20,000 votes: 2xx = counted = applied', async () => {
  env = await createTestEnv('fault_kills');
  stack = await startStack({ ...env, consumers: 2, env: { RATE_LIMIT: 'off' }, consumerEnv: { CLAIM_IDLE_MS: '1500', CLAIM_EVERY_MS: '500', BATCH_SIZE: '200' } });
  const s = stack;
  const pour = new VotePourer(s.url, 32, 20_000);
  pour.start();
  let kills = 0;
  const started = Date.now();
  while (pour.sent < 20_000) {
    // Kill each time another ~1,500 votes were counted: every few seconds, always mid-stream.
    const seen = await tallyTotal(env.databaseUrl);
    await waitFor(async () => (await tallyTotal(env!.databaseUrl)) >= seen + 1500 || pour.sent >= 20_000, { what: 'progress', timeoutMs: 60_000 });
    if (pour.sent >= 20_000) break;
    const victim = s.consumers[kills % 2]!;
    await victim.kill();
    kills++;
    await victim.start();
  }
  await pour.finish();
  const accepted = pour.accepted.size;
  await waitFor(async () => (await tallyTotal(env!.databaseUrl)) >= accepted, { what: 'all counted', timeoutMs: 60_000 });
  await waitFor(async () => (await pendingCount(env!.redisUrl, env!.redisPrefix)) === 0, { what: 'nothing pending', timeoutMs: 30_000 });
  const counted = await tallyTotal(env.databaseUrl);
  const applied = await appliedCount(env.databaseUrl);
  figure('consumer kills', { votes2xx: accepted, counted, applied, kills, pending: 0, seconds: (Date.now() - started) / 1000 });
  expect(accepted).toBe(20_000);
  expect(counted).toBe(accepted);
  expect(applied).toBe(accepted);
  expect(kills).toBeGreaterThanOrEqual(4);
});

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
  consumer.o.env.FAULT_EXIT_AFTER_COMMIT = '0';
  await consumer.start();
  await waitFor(async () => (await tallyTotal(env!.databaseUrl)) >= n, { what: 'all counted', timeoutMs: 60_000 });
  await waitFor(async () => (await pendingCount(env!.redisUrl, env!.redisPrefix)) === 0, { what: 'nothing pending' });
  const r = await waitFor(async () => {
    const t = await results(stack!.url);
    return t.total >= n ? t : false;
  }, { what: 'results current' });
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
  const dead = await waitFor(async () => {
    const rows = await redis.xrange(keys.deadLetter, '-', '+');
    return rows.length >= 10 ? rows : false;
  }, { what: 'ten poison entries dead-lettered', timeoutMs: 60_000 });
  const fields = dead.map(([, f]) => Object.fromEntries(f.reduce<string[][]>((acc, v, i) => (i % 2 ? acc : [...acc, [v, f[i + 1]!]]), [])));
  await waitFor(async () => (await tallyTotal(env!.databaseUrl)) === good, { what: 'good votes counted' });
  await waitFor(async () => (await pendingCount(env!.redisUrl, env!.redisPrefix)) === 0, { what: 'nothing pending' });
  redis.disconnect();
  figure('poison entries', { poison: 10, deadLettered: dead.length, deliveries: fields.map((f) => Number(f.deliveries)), good, counted: await tallyTotal(env.databaseUrl) });
  expect(dead).toHaveLength(10);
  for (const f of fields) {
    expect(f['f.vid']).toMatch(/^poison-/);
    expect(f.reason).toBe('max-deliveries');
    expect(Number(f.deliveries)).toBeGreaterThan(3);
  }
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
  await waitFor(async () => (await tallyTotal(env!.databaseUrl)) === 3000, { what: 'first 3000 counted' });
  consumer.pause();
  expect((await castMany(s.url, 5000, 32)).every((o) => o.status === 202)).toBe(true);
  const backlog = await redis.xlen(keys.votes);
  consumer.resume();
  let minLen = backlog;
  await waitFor(async () => {
    minLen = Math.min(minLen, await redis.xlen(keys.votes));
    return (await tallyTotal(env!.databaseUrl)) >= 8000;
  }, { what: 'backlog counted', timeoutMs: 60_000, intervalMs: 20 });
  const finalLen = await waitFor(async () => {
    const len = await redis.xlen(keys.votes);
    return len < 200 ? len : false;
  }, { what: 'stream trimmed after the backlog' });
  redis.disconnect();
  const counted = await tallyTotal(env.databaseUrl);
  figure('trim under backlog', { votes2xx: 8000, counted, backlogLength: backlog, finalLength: finalLen });
  expect(backlog).toBeGreaterThanOrEqual(5000);
  expect(counted).toBe(8000);
});
