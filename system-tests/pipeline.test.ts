import { afterAll, beforeAll, expect, it } from 'vitest';
import { appliedCount, pendingCount, createTestEnv, startStack, type Stack, type TestEnv, castMany, results } from '@livevote/harness';

let env: TestEnv;
let stack: Stack;

beforeAll(async () => {
  env = await createTestEnv('crash');
  // A short claim idle time so a restarted consumer (new name) takes over the dead one's entries quickly.
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' }, consumerEnv: { CLAIM_IDLE_MS: '1000', CLAIM_EVERY_MS: '500', BATCH_SIZE: '50' } });
});
afterAll(async () => {
  await stack?.stop();
  await env?.cleanup();
});

it('counts every accepted vote exactly once although the consumer is SIGKILLed again and again', async () => {
  const consumer = stack.consumers[0]!;
  const pouring = castMany(stack.url, 6000, 24);
  for (let kill = 1; kill <= 4; kill++) {
    // Kill only while it is making progress, so each kill lands mid-stream.
    const seen = (await results(stack.url)).total;
    await expect.poll(async () => (await results(stack.url)).total, { message: `progress before kill ${kill}`, timeout: 15_000 }).toBeGreaterThan(seen);
    await consumer.kill();
    await consumer.start();
  }
  const outcomes = await pouring;
  const accepted = outcomes.filter((o) => o.status === 202).length;
  expect(accepted).toBe(6000);

  await expect.poll(async () => (await results(stack.url)).total, { message: 'all accepted votes counted', timeout: 30_000 }).toBe(accepted);
  expect(consumer.exits.filter((c) => c === -1)).toHaveLength(4);

  expect(await appliedCount(env.databaseUrl)).toBe(accepted);
  await expect.poll(() => pendingCount(env.redisUrl, env.redisPrefix), { message: 'nothing pending', timeout: 15_000 }).toBe(0);
});
