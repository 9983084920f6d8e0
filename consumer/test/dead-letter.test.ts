import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CONSUMER_GROUP, redisKeys } from '@livevote/contract';
import { createTestEnv, startStack, type Stack, type TestEnv, results, waitFor } from '@livevote/harness';

let env: TestEnv;
let stack: Stack;
let redis: Redis;

beforeAll(async () => {
  env = await createTestEnv('dead_letter');
  stack = await startStack({ ...env });
  redis = new Redis(env.redisUrl);
});
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

  const dead = await waitFor(async () => {
    const rows = await redis.xrange(keys.deadLetter, '-', '+');
    return rows.length >= 3 ? rows : false;
  }, { what: 'three dead-lettered entries' });
  expect(dead).toHaveLength(3);
  for (const [, fields] of dead) expect(fields).toEqual(expect.arrayContaining(['reason', 'invalid']));

  const r = await waitFor(async () => {
    const t = await results(stack.url);
    return t.total === 4 ? t : false;
  }, { what: 'four good votes counted' });
  expect(r).toMatchObject({ cats: 2, dogs: 2, total: 4 });
  const [pending] = (await redis.xpending(keys.votes, CONSUMER_GROUP)) as [number];
  expect(Number(pending)).toBe(0);
});

it('counts a vote ID once however often it appears in the stream, and publishes no change for duplicates', async () => {
  const keys = redisKeys(env.redisPrefix);
  const sub = new Redis(env.redisUrl);
  const messages: { seq: number; total: number }[] = [];
  sub.on('message', (_c, m: string) => messages.push(JSON.parse(m) as { seq: number; total: number }));
  await sub.subscribe(keys.tallyChannel);
  const before = await results(stack.url);
  const ts = String(Date.now());
  for (let i = 0; i < 5; i++) await redis.xadd(keys.votes, '*', 'vid', 'same-vote-id-1', 'option', 'cats', 'ts', ts);
  await waitFor(async () => (await results(stack.url)).total === before.total + 1, { what: 'one vote counted' });
  // Duplicates alone, after the first is counted: the group must ack them without a new tally.
  for (let i = 0; i < 3; i++) await redis.xadd(keys.votes, '*', 'vid', 'same-vote-id-1', 'option', 'cats', 'ts', ts);
  await waitFor(async () => {
    const [pending] = (await redis.xpending(keys.votes, CONSUMER_GROUP)) as [number];
    const info = (await redis.call('XINFO', 'GROUPS', keys.votes)) as unknown[][];
    const lag = Number(info[0]![info[0]!.indexOf('lag') + 1]);
    return Number(pending) === 0 && lag === 0;
  }, { what: 'duplicates acknowledged' });
  sub.disconnect();
  const after = await results(stack.url);
  expect(after.total).toBe(before.total + 1);
  expect(after.seq).toBe(before.seq + 1);
  expect(messages.filter((m) => m.seq > before.seq)).toEqual([expect.objectContaining({ seq: before.seq + 1, total: before.total + 1 })]);
});
