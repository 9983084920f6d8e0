/**
 * Redis memory is bounded by the votes in flight, not by every vote ever cast: an
 * Idempotency-Key's record lives IDEMPOTENCY_WINDOW_SECONDS, and a retry after that is
 * deduplicated by PostgreSQL's applied-votes table. On a private redis-server with a small
 * `maxmemory` (noeviction, as in the chart) many more keyed votes than would fit if every
 * record stayed are all accepted, and a retry after the window is counted once.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { castVote, createTestEnv, startPrivateRedis, type PrivateRedis, results, startStack, tallyTotal, type Stack, type TestEnv } from '@livevote/harness';

const MAXMEMORY = 3 * 1024 * 1024;
const WAVE = 1000;

let env: TestEnv;
let stack: Stack;
let redis: PrivateRedis;
let admin: Redis;

beforeAll(async () => {
  redis = await startPrivateRedis('idem', { persistence: false, maxmemory: MAXMEMORY });
  admin = new Redis(redis.url);
  env = await createTestEnv('idem_window', `${redis.url}/0`);
  stack = await startStack({
    ...env,
    env: { RATE_LIMIT: 'off' },
    serverEnv: { IDEMPOTENCY_WINDOW_SECONDS: '1' },
    consumerEnv: { TRIM_EVERY_MS: '200' },
  });
});
afterAll(async () => {
  admin?.disconnect();
  await stack?.stop();
  await env?.cleanup();
  await redis?.dispose();
});

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
const idemKey = (key: string) => `${env.redisPrefix}idem:${key}`;
const counted = async (id: string) => ((await (await fetch(`${stack.url}/api/vote/${id}`)).json()) as { counted: boolean }).counted;
/** A browser-like key: a UUID, as the voter page sends. */
const RUN = Date.now().toString(16).padStart(12, '0');
const browserKey = (wave: number, i: number) => `${wave.toString(16).padStart(8, '0')}-${i.toString(16).padStart(4, '0')}-4000-8000-${RUN}`;

async function castWave(wave: number): Promise<number[]> {
  const statuses: number[] = new Array(WAVE);
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < WAVE) {
        const i = next++;
        statuses[i] = (await castVote(stack.url, i % 2 ? 'cats' : 'dogs', browserKey(wave, i))).status;
      }
    }),
  );
  return statuses;
}

it('keeps accepting keyed votes long after the records of all of them would have filled maxmemory', async () => {
  const base = await usedMemory();
  const first = await castWave(0);
  expect(first.every((s) => s === 202)).toBe(true);
  // What one record costs, by Redis's own accounting, read before its 1 s window ends.
  expect((await castVote(stack.url, 'cats', browserKey(0, WAVE))).status).toBe(202);
  const sample = (await admin.call('MEMORY', 'USAGE', idemKey(browserKey(0, WAVE)))) as number | null;
  const perRecord = sample ?? 136;
  const waves = Math.ceil((2 * (MAXMEMORY - base)) / (WAVE * perRecord));
  console.log(`base used_memory ${base} B of ${MAXMEMORY}; MEMORY USAGE of one record ${sample} B; ${waves} waves of ${WAVE} = ${waves * WAVE} keyed votes, ~2x what fits if every record stayed`);
  let peak = await usedMemory();
  for (let w = 1; w < waves; w++) {
    const statuses = await castWave(w);
    peak = Math.max(peak, await usedMemory());
    const refused = statuses.filter((s) => s !== 202).length;
    expect(refused, `wave ${w}: ${refused} of ${WAVE} keyed votes not accepted (used_memory ${await usedMemory()} of ${MAXMEMORY})`).toBe(0);
    await expect.poll(async () => (await results(stack.url)).total, { timeout: 20_000, message: `wave ${w} counted` }).toBe((w + 1) * WAVE + 1);
  }
  console.log(`peak used_memory ${peak} B (${Math.round((100 * peak) / MAXMEMORY)} % of maxmemory) after ${waves * WAVE} keyed votes`);
  expect(peak).toBeLessThan(MAXMEMORY);
  // The gauges an operator alerts on.
  const text = await (await fetch(`${stack.opsUrl}/metrics`)).text();
  expect(Number(/^livevote_redis_maxmemory_bytes (\d+)/m.exec(text)?.[1])).toBe(MAXMEMORY);
  expect(Number(/^livevote_redis_memory_used_bytes (\d+)/m.exec(text)?.[1])).toBeGreaterThan(0);
});

it('counts a retry after the window once: PostgreSQL dedupes what Redis no longer remembers', async () => {
  const key = `retry-after-window-${Date.now()}`;
  // Totals straight from PostgreSQL: /api/results is cached and follows the tally channel.
  const before = await tallyTotal(env.databaseUrl);
  expect((await castVote(stack.url, 'dogs', key)).status).toBe(202);
  await expect.poll(() => admin.exists(idemKey(key)), { timeout: 10_000, message: 'record gone after the window' }).toBe(0);
  const retry = await castVote(stack.url, 'dogs', key);
  expect(retry.status).toBe(202);
  expect(retry.id).toBe(key);
  // A probe cast after the retry: once it is counted, the retry's entry has been applied too.
  const probe = await castVote(stack.url, 'cats');
  await expect.poll(() => counted(probe.id!), { timeout: 20_000 }).toBe(true);
  expect(await counted(key)).toBe(true);
  expect(await tallyTotal(env.databaseUrl)).toBe(before + 2);
});
