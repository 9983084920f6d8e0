import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestEnv, startStack, type Stack, type TestEnv, castMany, castVote, results } from '@livevote/harness';

let env: TestEnv;
let stack: Stack;

beforeAll(async () => {
  env = await createTestEnv('vote_api');
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' } });
});
afterAll(async () => {
  await stack?.stop();
  await env?.cleanup();
});

const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  fetch(`${stack.url}/api/vote`, { method: 'POST', headers, body });

describe('POST /api/vote → stream → consumer → PostgreSQL', () => {
  it('counts N concurrent votes exactly N times', async () => {
    const before = await results(stack.url);
    const n = 2000;
    const outcomes = await castMany(stack.url, n, 64, (i) => (i % 4 === 0 ? 'dogs' : 'cats'));
    expect(outcomes.filter((o) => o.status === 202)).toHaveLength(n);
    const after = await vi.waitFor(async () => {
      const r = await results(stack.url);
      expect(r.total - before.total, `${n} votes counted`).toBeGreaterThanOrEqual(n);
      return r;
    }, { timeout: 15_000, interval: 50 });
    expect(after.dogs - before.dogs).toBe(n / 4);
    expect(after.cats - before.cats).toBe((3 * n) / 4);
    expect(after.total - before.total).toBe(n);
    expect(after.seq).toBeGreaterThan(before.seq);
  });

  it('counts a vote sent three times with one Idempotency-Key once', async () => {
    const before = await results(stack.url);
    const key = `retry-${Date.now()}`;
    const answers = [await castVote(stack.url, 'dogs', key), await castVote(stack.url, 'dogs', `"${key}"`), await castVote(stack.url, 'dogs', key)];
    expect(answers.map((a) => [a.status, a.id])).toEqual([[202, key], [202, key], [202, key]]);
    const status = await vi.waitFor(async () => {
      const r = (await (await fetch(`${stack.url}/api/vote/${key}`)).json()) as { counted: boolean; seq?: number };
      expect(r.counted, 'vote counted').toBe(true);
      return r;
    }, { timeout: 15_000, interval: 50 });
    const after = await vi.waitFor(async () => {
      const r = await results(stack.url);
      expect(r.total, 'results show the vote').toBeGreaterThan(before.total);
      return r;
    }, { timeout: 15_000, interval: 50 });
    expect(after.dogs - before.dogs).toBe(1);
    expect(after.total - before.total).toBe(1);
    expect(status.seq).toBeGreaterThan(before.seq);
  });

  it('refuses the same Idempotency-Key for a different vote with 422 while the first is in flight', async () => {
    const key = `reuse-${Date.now()}`;
    // The consumer held (SIGSTOP): the first vote stays in flight, and so does its record.
    process.kill(stack.consumers[0]!.pid!, 'SIGSTOP');
    try {
      expect((await castVote(stack.url, 'cats', key)).status).toBe(202);
      expect((await castVote(stack.url, 'dogs', key)).status).toBe(422);
    } finally {
      process.kill(stack.consumers[0]!.pid!, 'SIGCONT');
    }
  });

  it('answers each kind of bad input with its own clear error', async () => {
    const cases: [Response, number][] = [
      [await post('option=cats', { 'content-type': 'application/x-www-form-urlencoded' }), 415],
      [await post('{"option":"cats"}', { 'content-type': 'text/plain' }), 415],
      [await post('{"option":"cats"}', {}), 415],
      [await post('{"option":', { 'content-type': 'application/json' }), 400],
      [await post('{"option":"cats","extra":1}'), 422],
      [await post('{"option":"hamsters"}'), 422],
      [await post('{}'), 422],
      [await post('"cats"'), 400],
      [await post(JSON.stringify({ option: 'cats', pad: 'x'.repeat(2000) })), 413],
      [await post('{"option":"cats"}', { 'content-type': 'application/json', 'idempotency-key': 'short' }), 400],
      [await post('{"option":"cats"}', { 'content-type': 'application/json', origin: 'https://elsewhere.example' }), 403],
      [await post('{"option":"cats"}', { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' }), 403],
    ];
    for (const [res, status] of cases) {
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: string }).error).toMatch(/\w/);
    }
  });

  it('accepts a same-origin browser POST', async () => {
    const res = await post('{"option":"cats"}', {
      'content-type': 'application/json; charset=utf-8',
      origin: stack.url,
      'sec-fetch-site': 'same-origin',
    });
    expect(res.status).toBe(202);
  });

  it('serves health and readiness, and the metrics on the ops port', async () => {
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${stack.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^livevote_votes_accepted_total\{option="cats"\} \d+/m);
    expect(metrics).toMatch(/^livevote_votes_rejected_total\{reason="invalid_body"\} \d+/m);
  });

  it('sends API security headers and no X-Powered-By', async () => {
    const res = await fetch(`${stack.url}/api/results`);
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const traced = await fetch(`${stack.url}/api/results`, { headers: { 'x-request-id': 'edge-4711' } });
    expect(traced.headers.get('x-request-id')).toBe('edge-4711');
  });
});
