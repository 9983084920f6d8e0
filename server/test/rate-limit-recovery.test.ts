/**
 * The vote limiter's store loads its Lua scripts with SCRIPT LOAD. When that fails at start
 * (here: an ACL that refuses script|load, later fixed), the limits must come back once Redis
 * is healthy, and the store errors must be counted and logged once per outage.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestEnv, startPrivateRedis, type PrivateRedis, startStack, type Stack, type TestEnv } from '@livevote/harness';

let env: TestEnv;
let stack: Stack;
let redis: PrivateRedis;
let admin: Redis;

beforeAll(async () => {
  redis = await startPrivateRedis('rl', { persistence: false });
  admin = new Redis(redis.url);
  await admin.call('ACL', 'SETUSER', 'default', '-script|load');
  env = await createTestEnv('rl_recovery', `${redis.url}/0`);
  stack = await startStack({
    ...env,
    env: { LOG_LEVEL: 'info' },
    serverEnv: { RATE_LIMIT: 'on', RATE_LIMIT_VOTES_PER_MIN: '3', RATE_LIMIT_STREAMS_PER_MIN: '1000' },
  });
});
afterAll(async () => {
  admin?.disconnect();
  await stack?.stop();
  await env?.cleanup();
  await redis?.dispose();
});

const vote = () => fetch(`${stack.url}/api/vote`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"option":"cats"}' });
const storeErrors = async () => {
  const text = await (await fetch(`${stack.opsUrl}/metrics`)).text();
  return Number(/^livevote_rate_limit_store_errors_total\{limiter="votes"\} (\d+)/m.exec(text)?.[1] ?? 'NaN');
};

it('enforces the vote limit once Redis lets the store load its scripts, after failing at start', async () => {
  // While SCRIPT LOAD is refused the limiter lets votes through (the vote itself still works),
  // counting and logging the store errors.
  for (let i = 0; i < 5; i++) expect((await vote()).status).toBe(202);
  const errorsDuringOutage = await storeErrors();

  await admin.call('ACL', 'SETUSER', 'default', '+script|load');
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await vote()).status);
  expect(statuses).toEqual([202, 202, 202, 429, 429]);

  expect(errorsDuringOutage).toBeGreaterThan(0);
  const log = stack.server.output();
  // Once per outage and limiter (the stream limiter failed its start-up load too), not per request.
  const lines = (what: string, limiter: string) => log.split('\n').filter((l) => l.includes(what) && l.includes(`"limiter":"${limiter}"`)).length;
  expect(lines('rate limit store failing', 'votes'), log).toBe(1);
  expect(lines('rate limit store failing', 'streams'), log).toBe(1);
  expect(lines('rate limit store recovered', 'votes'), log).toBe(1);
  expect(log).not.toMatch(/express-rate-limit: error from store/);
});
