import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CONSUMER_GROUP, redisKeys } from '@livevote/contract';
import { createTestEnv, startStack, type Stack, type TestEnv } from '@livevote/harness';

let env: TestEnv;
let stack: Stack;
let redis: Redis;
beforeAll(async () => {
  env = await createTestEnv('group_members');
  stack = await startStack({ ...env, consumers: 0, consumerEnv: { FORGET_CONSUMER_AFTER_MS: '1000', CLAIM_EVERY_MS: '200', CLAIM_IDLE_MS: '60000' } });
  redis = new Redis(env.redisUrl);
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
  await env?.cleanup();
});

const members = async () => {
  const rows = (await redis.call('XINFO', 'CONSUMERS', redisKeys(env.redisPrefix).votes, CONSUMER_GROUP)) as (string | number)[][];
  return rows.map((r) => ({ name: String(r[r.indexOf('name') + 1]), pending: Number(r[r.indexOf('pending') + 1]) }));
};

it('removes names of restarted consumers that hold nothing, and keeps one that still holds entries', async () => {
  const keys = redisKeys(env.redisPrefix);
  // Before any live consumer: "holder" takes an entry and dies with it; "ghost" never took anything.
  await redis.xgroup('CREATE', keys.votes, CONSUMER_GROUP, '0', 'MKSTREAM');
  await redis.xgroup('CREATECONSUMER', keys.votes, CONSUMER_GROUP, 'ghost');
  await redis.xadd(keys.votes, '*', 'vid', 'held-by-a-dead-pod', 'option', 'cats', 'ts', String(Date.now()));
  await redis.xreadgroup('GROUP', CONSUMER_GROUP, 'holder', 'COUNT', 1, 'STREAMS', keys.votes, '>');
  await stack.addConsumer();
  await expect
    .poll(async () => (await members()).map((m) => m.name), { message: 'ghost removed', timeout: 15_000, interval: 50 })
    .not.toContain('ghost');
  const left = await members();
  expect(left.find((m) => m.name === 'holder')).toEqual({ name: 'holder', pending: 1 });
  expect(left.some((m) => m.name === stack.consumers[0]!.options.env.CONSUMER_NAME)).toBe(true);
});
