import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { appliedAmong, createTestEnv, pendingCount, results, startPrivateRedis, startStack, tallyTotal } from '@livevote/harness';
import { waitFor } from './wait-for.ts';

export interface MemoryAtRate {
  /** Asked for; 0 = as fast as the machine takes them. */
  targetPerSec: number;
  achievedPerSec: number;
  accepted: number;
  refused: number;
  /** Redis `used_memory` over the run's second half (MB): median and max, and before the votes. */
  baseMb: number;
  medianMb: number;
  maxMb: number;
}

export interface MemoryWhilePaused {
  maxmemoryMb: number;
  perSec: number;
  /** From the consumer's pause to the first 503. */
  secondsUntilRefused: number;
  acceptedUntilRefused: number;
  bytesPerVoteInFlight: number;
  refusedWith: string;
  refused: number;
  /** After the consumer resumed and drained: how many of the refused keys PostgreSQL holds (must be 0). */
  refusedButStored: number;
  counted: number;
  accepted: number;
}

/** Keyed votes (a fresh Idempotency-Key each, as the voter page sends) at `rate`/s (0: flat out). */
function keyedVotes(url: string, seconds: number, rate: number, onStatus: (status: number, body: string, key: string) => void) {
  return autocannon({
    url: `${url}/api/vote`,
    method: 'POST',
    connections: 32,
    duration: seconds,
    ...(rate > 0 ? { overallRate: rate } : {}),
    requests: [
      {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ option: 'cats' }),
        // One request at a time per connection: the key set on the connection's context is the
        // key of the answer that comes back on it.
        setupRequest: (req, context: { key?: string }) => {
          context.key = randomBytes(12).toString('base64url');
          return { ...req, headers: { ...req.headers, 'idempotency-key': context.key } };
        },
        onResponse: (status, body, context: { key?: string }) => onStatus(status, body, context.key ?? ''),
      },
    ],
  });
}

async function usedMemory(r: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await r.info('memory'))?.[1]);
}

/**
 * A private Redis run as the chart runs it (`noeviction`), the whole stack on it, keyed votes at
 * each rate with the consumer running: Redis `used_memory` at steady state.
 */
export async function measureMemoryAtRates(rates: number[], seconds: number): Promise<MemoryAtRate[]> {
  const out: MemoryAtRate[] = [];
  for (const rate of rates) {
    const redis = await startPrivateRedis('bench-mem', { persistence: false, maxmemory: 400 * 2 ** 20 });
    const env = await createTestEnv('bench_mem', `${redis.url}/0`);
    const stack = await startStack({ ...env, env: { RATE_LIMIT: 'off', LOG_LEVEL: 'warn' } });
    const admin = new Redis(`${redis.url}/0`);
    try {
      const baseMb = (await usedMemory(admin)) / 2 ** 20;
      const samples: number[] = [];
      const started = Date.now();
      const sampler = setInterval(() => {
        if (Date.now() - started > (seconds * 1000) / 2) void usedMemory(admin).then((m) => samples.push(m / 2 ** 20));
      }, 200);
      let accepted = 0;
      let refused = 0;
      const r = await keyedVotes(stack.url, seconds, rate, (s) => (s === 202 ? accepted++ : refused++));
      clearInterval(sampler);
      samples.sort((a, b) => a - b);
      out.push({ targetPerSec: rate, achievedPerSec: r.requests.average, accepted, refused, baseMb, medianMb: samples[Math.floor(samples.length / 2)] ?? Number.NaN, maxMb: samples.at(-1) ?? Number.NaN });
      await waitFor(async () => (await results(stack.url)).total >= accepted, { what: 'every accepted vote counted', timeoutMs: 120_000, intervalMs: 100 });
    } finally {
      admin.disconnect();
      await stack.stop();
      await env.cleanup();
      await redis.dispose();
    }
  }
  return out;
}

/**
 * The consumer paused (SIGSTOP): keyed votes flat out into a `maxmemoryMb` Redis until it refuses
 * them; then the consumer resumes and every vote answered 202 must be counted, and no other.
 */
export async function measureUntilRefused(maxmemoryMb: number, maxSeconds: number): Promise<MemoryWhilePaused> {
  const redis = await startPrivateRedis('bench-mem-paused', { persistence: false, maxmemory: maxmemoryMb * 2 ** 20 });
  const env = await createTestEnv('bench_mem_paused', `${redis.url}/0`);
  const stack = await startStack({ ...env, env: { RATE_LIMIT: 'off', LOG_LEVEL: 'warn' } });
  const admin = new Redis(`${redis.url}/0`);
  try {
    const base = await usedMemory(admin);
    stack.consumers[0]!.pause();
    const t0 = performance.now();
    let accepted = 0;
    let acceptedUntilRefused = 0;
    let firstRefusal = Number.NaN;
    let refusedWith = '';
    const refusedKeys: string[] = [];
    const run = keyedVotes(stack.url, maxSeconds, 0, (status, body, key) => {
      if (status === 202) return void accepted++;
      refusedKeys.push(key);
      if (Number.isNaN(firstRefusal)) {
        firstRefusal = performance.now() - t0;
        acceptedUntilRefused = accepted;
        refusedWith = `${status} ${body}`;
      }
    });
    // Stop once refusals have started: what follows would only repeat them.
    const stopper = setInterval(() => {
      if (!Number.isNaN(firstRefusal) && performance.now() - t0 > firstRefusal + 1000) (run as unknown as { stop(): void }).stop();
    }, 100);
    const r = await run;
    clearInterval(stopper);
    const full = await usedMemory(admin);
    stack.consumers[0]!.resume();
    await waitFor(async () => (await results(stack.url)).total >= accepted, { what: 'every accepted vote counted', timeoutMs: 300_000, intervalMs: 100 });
    await waitFor(async () => (await pendingCount(env.redisUrl, env.redisPrefix)) === 0, { what: 'the stream drained', timeoutMs: 120_000, intervalMs: 100 });
    const counted = await tallyTotal(env.databaseUrl);
    const refusedButStored = await appliedAmong(env.databaseUrl, refusedKeys);
    return {
      maxmemoryMb,
      perSec: r.requests.average,
      secondsUntilRefused: firstRefusal / 1000,
      acceptedUntilRefused,
      bytesPerVoteInFlight: (full - base) / Math.max(1, accepted),
      refusedWith,
      refused: refusedKeys.length,
      refusedButStored,
      counted,
      accepted,
    };
  } finally {
    admin.disconnect();
    await stack.stop();
    await env.cleanup();
    await redis.dispose();
  }
}
