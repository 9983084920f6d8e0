import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisKeys } from '@livevote/contract';
import { castVote, createTestEnv, databaseAway, freePort, results, ServiceProcess, startStack, type Stack, type TestEnv } from '@livevote/harness';

// PostgreSQL away for this server only: the test's own database refuses connections (ALLOW_CONNECTIONS
// false, its sessions terminated). Redis stays up, so the server can still take votes: it stays
// ready, votes get 202, results degrade to the last known tally with its age, vote status to 503.
let env: TestEnv;
let stack: Stack;
let away: ReturnType<typeof databaseAway>;
const extra: ServiceProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv('pg_away');
  away = databaseAway(env.databaseUrl);
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off', RESULTS_CACHE_MS: '0' } });
});
afterAll(async () => {
  await Promise.all(extra.map((p) => p.stop()));
  await stack?.stop();
  await away?.allow().catch(() => {});
  await env?.cleanup();
});

const get = (path: string, base = stack.url) => fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });

it('stays ready and takes votes while PostgreSQL is away; results serve the last known tally with its age; vote status answers 503', async () => {
  const key = `pg-away-${Date.now()}`;
  expect((await castVote(stack.url, 'cats', key)).status).toBe(202);
  await expect.poll(async () => (await results(stack.url)).total, { message: 'the first vote counted', timeout: 15_000 }).toBe(1);
  const known = await results(stack.url);
  expect(known).not.toHaveProperty('stale');

  await away.refuse();
  // The server notices: the vote status read fails and says when to retry.
  await expect.poll(async () => (await get(`/api/vote/${key}`)).status, { message: 'vote status degrades to 503', timeout: 10_000 }).toBe(503);
  const status = await get(`/api/vote/${key}`);
  expect(Number(status.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(((await status.json()) as { error: string }).error).toMatch(/\w/);

  // Ready means "can take votes": Redis is there, so it is ready and votes are accepted.
  const ready = await get('/readyz');
  expect.soft(ready.status, 'ready while PostgreSQL is away').toBe(200);
  expect.soft((await castVote(stack.url, 'dogs')).status, 'vote accepted while PostgreSQL is away').toBe(202);

  // Results: the last known tally, marked stale, with its age.
  const res = await get('/api/results');
  expect(res.status, 'results while PostgreSQL is away').toBe(200);
  expect(Number(res.headers.get('age'))).toBeGreaterThanOrEqual(0);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ ...known, stale: true });
  expect(body.ageSeconds).toBe(Number(res.headers.get('age')));

  // A server that has never read a tally has nothing to serve: 503 + Retry-After, yet it is ready.
  const port = await freePort();
  const fresh = new ServiceProcess({
    name: 'server-2',
    entry: stack.server.options.entry,
    // An ops port of its own too: the first server holds the one in the copied env.
    env: { ...stack.server.options.env, PORT: String(port), OPS_PORT: String(await freePort()) },
    readyUrl: `http://127.0.0.1:${port}/readyz`,
  });
  extra.push(fresh);
  await fresh.start();
  const base2 = `http://127.0.0.1:${port}`;
  const none = await get('/api/results', base2);
  expect(none.status).toBe(503);
  expect(Number(none.headers.get('retry-after'))).toBeGreaterThan(0);
  expect((await castVote(base2, 'cats')).status).toBe(202);

  // PostgreSQL back: fresh results again, every vote accepted meanwhile counted.
  await away.allow();
  // (The tally channel may bring the new totals before this server's own reads work again.)
  await expect.poll(async () => {
    const r = await get('/api/results');
    if (r.status !== 200) return null;
    const { cats, dogs, total, stale } = (await r.json()) as Record<string, unknown>;
    return { cats, dogs, total, stale: stale ?? false, age: r.headers.get('age') };
  }, { message: 'fresh results with all three votes', timeout: 30_000 }).toEqual({ total: 3, cats: 2, dogs: 1, stale: false, age: null });
  await expect.poll(async () => (await get('/api/results', base2)).status, { message: 'the new server serves results', timeout: 15_000 }).toBe(200);
});

it('is not ready while Redis has lost the round state and PostgreSQL cannot restore it; ready, and taking votes, once it is restored', async () => {
  const redis = new Redis(env.redisUrl);
  try {
    await away.refuse();
    await redis.del(redisKeys(env.redisPrefix).round);
    // Ready means "can take votes", and without the round state no vote can be stored.
    await expect.poll(async () => (await get('/readyz')).status, { message: 'unready without the round state', timeout: 10_000 }).toBe(503);
    const refused = await castVote(stack.url, 'cats');
    expect(refused.status).toBe(503);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);

    await away.allow();
    await expect.poll(async () => (await get('/readyz')).status, { message: 'ready once the state is restored', timeout: 30_000 }).toBe(200);
    expect(await redis.hget(redisKeys(env.redisPrefix).round, 'round')).not.toBeNull();
    expect((await castVote(stack.url, 'cats')).status).toBe(202);
  } finally {
    redis.disconnect();
    await away.allow();
  }
});
