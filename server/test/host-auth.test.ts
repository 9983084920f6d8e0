import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, metricValue, startStack, type Stack, type TestEnv } from '@livevote/harness';

let env: TestEnv;
let stack: Stack;

beforeAll(async () => {
  env = await createTestEnv('host_auth');
  stack = await startStack({ ...env, env: { RATE_LIMIT_HOST_FAILURES_PER_MIN: '3' } });
});
afterAll(async () => {
  await stack?.stop();
  await env?.cleanup();
});

const metric = (name: string, label: string) => metricValue(stack.opsUrl, `${name}{${label}}`);

describe('host sign-in failures', () => {
  it('are rate-limited per address (429 + Retry-After) while the right token still works', async () => {
    const guess = (t: string) => fetch(`${stack.url}/api/host/round`, { headers: { authorization: `Bearer ${t}` } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await guess(`wrong-guess-number-${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const limited = await guess('wrong-guess-once-more');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // A valid credential is never counted nor refused.
    for (let i = 0; i < 5; i++) expect((await guess(stack.hostToken)).status).toBe(200);
    expect(await metric('livevote_host_auth_failures_total', 'reason="invalid"')).toBe(3);
    expect(await metric('livevote_host_auth_failures_total', 'reason="rate_limited"')).toBeGreaterThanOrEqual(3);
  });

  it('counts host actions in the metrics', async () => {
    const before = await metric('livevote_host_actions_total', 'action="new_round"');
    const res = await fetch(`${stack.url}/api/host/rounds`, { method: 'POST', headers: { authorization: `Bearer ${stack.hostToken}` } });
    expect(res.status).toBe(201);
    expect(await metric('livevote_host_actions_total', 'action="new_round"')).toBe(before + 1);
  });
});
