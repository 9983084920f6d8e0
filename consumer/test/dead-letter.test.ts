import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { CONSUMER_GROUP, redisKeys, Results } from '@livevote/contract';
import { createTestEnv, startStack, type Stack, type TestEnv, results } from '@livevote/harness';

let env: TestEnv;
let stack: Stack;
let redis: Redis;

beforeAll(async () => {
  env = await createTestEnv('dead_letter');
  stack = await startStack({ ...env });
  redis = new Redis(env.redisUrl);
});
const pendingCount = async () => {
  const [pending] = (await redis.xpending(redisKeys(env.redisPrefix).votes, CONSUMER_GROUP)) as [number];
  return Number(pending);
};
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
  await env?.cleanup();
});

it('dead-letters malformed entries and counts the good votes around them', async () => {
  const keys = redisKeys(env.redisPrefix);
  const ts = String(Date.now());
  const good = (i: number) => ['vid', `direct-vote-${i}`, 'option', i % 2 ? 'cats' : 'dogs', 'ts', ts];
  await redis.xadd(keys.votes, '*', ...good(1));
  await redis.xadd(keys.votes, '*', 'vid', 'direct-bad-option', 'option', 'hamsters', 'ts', ts);
  await redis.xadd(keys.votes, '*', ...good(2));
  await redis.xadd(keys.votes, '*', 'garbage', 'x');
  await redis.xadd(keys.votes, '*', 'vid', 'x', 'option', 'cats', 'ts', ts);
  await redis.xadd(keys.votes, '*', ...good(3));
  await redis.xadd(keys.votes, '*', ...good(4));

  const dead = await vi.waitFor(async () => {
    const rows = await redis.xrange(keys.deadLetter, '-', '+');
    expect(rows.length, 'three dead-lettered entries').toBeGreaterThanOrEqual(3);
    return rows;
  }, { timeout: 15_000, interval: 50 });
  expect(dead).toHaveLength(3);
  for (const [, fields] of dead) expect(fields).toEqual(expect.arrayContaining(['reason', 'invalid']));

  await expect
    .poll(() => results(stack.url), { message: 'four good votes counted', timeout: 15_000, interval: 50 })
    .toMatchObject({ cats: 2, dogs: 2, total: 4 });
  // XACK follows COMMIT, so the results can show the votes a moment before the group lets go of them.
  await expect.poll(() => pendingCount(), { message: 'nothing left pending', timeout: 15_000, interval: 50 }).toBe(0);
});

it('counts a vote ID once however often it appears in the stream, and publishes no change for duplicates', async () => {
  const keys = redisKeys(env.redisPrefix);
  const sub = new Redis(env.redisUrl);
  const messages: { seq: number; total: number }[] = [];
  sub.on('message', (_c, m: string) => messages.push(JSON.parse(m) as { seq: number; total: number }));
  await sub.subscribe(keys.tallyChannel);
  // Nothing is in flight at this point: the first test left nothing pending.
  const before = await results(stack.url);
  const ts = String(Date.now());
  for (let i = 0; i < 5; i++) await redis.xadd(keys.votes, '*', 'vid', 'same-vote-id-1', 'option', 'cats', 'ts', ts);
  await expect.poll(async () => (await results(stack.url)).total, { message: 'one vote counted', timeout: 15_000, interval: 50 }).toBe(before.total + 1);
  // Duplicates alone, after the first is counted: the group must ack them without a new tally.
  for (let i = 0; i < 3; i++) await redis.xadd(keys.votes, '*', 'vid', 'same-vote-id-1', 'option', 'cats', 'ts', ts);
  await vi.waitFor(async () => {
    const info = (await redis.call('XINFO', 'GROUPS', keys.votes)) as unknown[][];
    const lag = Number(info[0]![info[0]!.indexOf('lag') + 1]);
    expect({ pending: await pendingCount(), lag }, 'duplicates acknowledged').toEqual({ pending: 0, lag: 0 });
  }, { timeout: 15_000, interval: 50 });
  // One more new vote: its tally is published after any the duplicates could have caused, and
  // pub/sub keeps the order, so once it has arrived every earlier message has too.
  await redis.xadd(keys.votes, '*', 'vid', 'after-the-duplicates', 'option', 'dogs', 'ts', ts);
  await expect
    .poll(() => messages.some((m) => m.total === before.total + 2), { message: 'the next tally published', timeout: 15_000, interval: 50 })
    .toBe(true);
  sub.disconnect();
  expect(messages.filter((m) => m.seq > before.seq)).toEqual([
    expect.objectContaining({ seq: before.seq + 1, total: before.total + 1 }),
    expect.objectContaining({ seq: before.seq + 2, total: before.total + 2 }),
  ]);
  await expect
    .poll(() => results(stack.url), { message: 'results show the two tallies', timeout: 15_000, interval: 50 })
    .toMatchObject({ total: before.total + 2, seq: before.seq + 2 });
});

it('publishes each tally in the shape the server serves, plus the oldest vote time', async () => {
  const keys = redisKeys(env.redisPrefix);
  const sub = new Redis(env.redisUrl);
  const messages: unknown[] = [];
  sub.on('message', (_c, m: string) => messages.push(JSON.parse(m)));
  await sub.subscribe(keys.tallyChannel);
  const ts = Date.now() - 1000;
  await redis.xadd(keys.votes, '*', 'vid', 'shape-check-vote', 'option', 'cats', 'ts', String(ts));
  await expect.poll(() => messages.length, { message: 'a tally published', timeout: 15_000, interval: 50 }).toBeGreaterThan(0);
  sub.disconnect();
  const [message] = messages as Record<string, unknown>[];
  const { oldestTs, changedSeq, changedAt, ...served } = message!;
  expect(oldestTs).toBe(ts);
  // The last host change's seq and time: what the server shows instead while results are hidden.
  expect(changedSeq).toEqual(expect.any(Number));
  expect(new Date(String(changedAt)).toISOString()).toBe(changedAt);
  expect(Results.parse(served)).toEqual(served);
  expect(new Date(String(served.updatedAt)).toISOString()).toBe(served.updatedAt);
  await expect.poll(() => results(stack.url), { message: 'the server serves the same tally', timeout: 15_000, interval: 50 }).toMatchObject(served);
});
