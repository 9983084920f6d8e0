import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestEnv, startStack, type Stack, type TestEnv } from '@livevote/harness';

let env: TestEnv;
let stack: Stack;
beforeAll(async () => {
  env = await createTestEnv('rate_limits');
  // Behind one proxy (TRUST_PROXY=1): the client is the right-most X-Forwarded-For entry.
  stack = await startStack({
    ...env,
    env: { LOG_LEVEL: 'info' },
    serverEnv: { RATE_LIMIT: 'on', TRUST_PROXY: '1', RATE_LIMIT_VOTES_PER_MIN: '5', RATE_LIMIT_STREAMS_PER_MIN: '3' },
  });
});
afterAll(async () => {
  await stack?.stop();
  await env?.cleanup();
});

const vote = (xff: string) =>
  fetch(`${stack.url}/api/vote`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': xff }, body: '{"option":"cats"}' });

it('limits votes per client address with 429, Retry-After and the standard RateLimit headers', async () => {
  const answers = [];
  for (let i = 0; i < 5; i++) answers.push((await vote('203.0.113.7')).status);
  expect(answers).toEqual([202, 202, 202, 202, 202]);
  const limited = await vote('203.0.113.7');
  expect(limited.status).toBe(429);
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(limited.headers.get('ratelimit-policy')).toMatch(/q=5/);
  expect(limited.headers.get('ratelimit')).toMatch(/r=0/);
  // Another address has its own budget.
  expect((await vote('203.0.113.8')).status).toBe(202);
});

it('does not let a forged left-most X-Forwarded-For reset the limit', async () => {
  for (let i = 0; i < 5; i++) expect((await vote(`198.51.100.${i}, 203.0.113.9`)).status).toBe(202);
  // The client invents a new left-most address; the proxy still appends the real one.
  expect((await vote('192.0.2.200, 203.0.113.9')).status).toBe(429);
});

it('limits new SSE connections per client address', async () => {
  const open: Response[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${stack.url}/api/stream`, { headers: { 'x-forwarded-for': '203.0.113.50' } });
    expect(res.status).toBe(200);
    open.push(res);
  }
  const fourth = await fetch(`${stack.url}/api/stream`, { headers: { 'x-forwarded-for': '203.0.113.50' } });
  expect(fourth.status).toBe(429);
  expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThan(0);
  // The stream route, outside Express, picks the same (right-most) address: a forged one does not help.
  const forged = await fetch(`${stack.url}/api/stream`, { headers: { 'x-forwarded-for': '192.0.2.201, 203.0.113.50' } });
  expect(forged.status).toBe(429);
  for (const r of open) await r.body?.cancel();
});

it('starts without any express-rate-limit validation error', () => {
  expect(stack.server.output()).not.toMatch(/ValidationError|ERR_ERL_/);
});
