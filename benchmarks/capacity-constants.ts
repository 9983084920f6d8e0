/**
 * `node benchmarks/capacity-constants.ts`: the two constants of the capacity model that no other
 * benchmark gives, measured on a stack of its own:
 *   - Redis bytes per vote in flight: MEMORY USAGE of the stream after N votes sit in it unread
 *     (consumer paused), and of one idempotency record;
 *   - GET /api/vote/:id answers per second of one server process (autocannon, counted vote IDs).
 */
import { Redis } from 'ioredis';
import autocannon from 'autocannon';
import { redisKeys } from '@livevote/contract';
import { castMany, castVote, createTestEnv, results, startStack } from '@livevote/harness';
import { waitFor } from './wait-for.ts';

const n = Number(process.env.BENCH_INFLIGHT_VOTES ?? 50_000);
const env = await createTestEnv('bench_capacity');
const stack = await startStack({ ...env, env: { RATE_LIMIT: 'off', LOG_LEVEL: 'warn' } });
const redis = new Redis(env.redisUrl);
const keys = redisKeys(env.redisPrefix);
try {
  stack.consumers[0]!.pause();
  const before = Number((await redis.call('MEMORY', 'USAGE', keys.votes, 'SAMPLES', '0')) ?? 0);
  await castMany(stack.url, n, 64);
  const after = Number(await redis.call('MEMORY', 'USAGE', keys.votes, 'SAMPLES', '0'));
  const key = `capacity-${Date.now()}`;
  await castVote(stack.url, 'cats', key);
  const record = Number(await redis.call('MEMORY', 'USAGE', keys.idempotency(key)));
  stack.consumers[0]!.resume();
  await waitFor(async () => (await results(stack.url)).total >= n + 1, { what: 'drained', timeoutMs: 120_000, intervalMs: 50 });
  console.log(`redis: ${((after - before) / n).toFixed(0)} B per stream entry (${n.toLocaleString('en-US')} unread votes), ${record} B per idempotency record`);

  const ids = (await castMany(stack.url, 2000, 32)).map((o) => o.id!);
  await waitFor(async () => (await results(stack.url)).total >= n + 2001, { what: 'counted', timeoutMs: 60_000, intervalMs: 50 });
  let i = 0;
  const r = await autocannon({
    url: stack.url,
    connections: 50,
    duration: Number(process.env.BENCH_SECONDS ?? 10),
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/api/vote/${ids[i++ % ids.length]}` }) }],
  });
  console.log(`vote status: ${Math.round(r.requests.average).toLocaleString('en-US')} GET /api/vote/:id per second, p99 ${r.latency.p99} ms, non-2xx ${r.non2xx} (one server process, PostgreSQL on the same 2 cores)`);
} finally {
  redis.disconnect();
  await stack.stop();
  await env.cleanup();
}
