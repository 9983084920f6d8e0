import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createTestEnv, startPrivateRedis, type PrivateRedis, startStack, type Stack, type TestEnv, castMany, castVote, results } from '@livevote/harness';

let env: TestEnv;
let stack: Stack;
let redis: PrivateRedis;

beforeAll(async () => {
  redis = await startPrivateRedis('redis', { appendfsync: 'always' });
  env = await createTestEnv('redis_outage', `${redis.url}/0`);
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' } });
});
afterAll(async () => {
  await stack?.stop();
  await env?.cleanup();
  await redis?.dispose();
});

it('answers 503 with Retry-After within half a second while Redis is down, and counts again after', async () => {
  const first = await castMany(stack.url, 50, 10);
  expect(first.every((o) => o.status === 202)).toBe(true);
  await expect.poll(async () => (await results(stack.url)).total, { message: 'first 50 counted', timeout: 15_000 }).toBe(50);

  await redis.kill();
  const during = await castMany(stack.url, 40, 8);
  for (const o of during) {
    expect(o.status).toBe(503);
    expect(Number(o.retryAfter)).toBeGreaterThan(0);
    expect(o.ms).toBeLessThan(500);
  }
  expect((await fetch(`${stack.url}/readyz`)).status).toBe(503);

  await redis.start();
  // Each try casts a vote; only the one answered 202 was stored (a 503 means not stored).
  await expect.poll(async () => (await castVote(stack.url, 'dogs')).status, { message: 'votes accepted again', timeout: 20_000 }).toBe(202);
  const after = await castMany(stack.url, 30, 5);
  expect(after.every((o) => o.status === 202)).toBe(true);
  await expect.poll(async () => (await results(stack.url)).total, { message: 'votes after the outage counted', timeout: 30_000 }).toBe(50 + 1 + 30);
});
