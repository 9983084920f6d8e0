/**
 * Redis holds only the votes in flight: the consumer drops a vote's idempotency record once
 * PostgreSQL holds the vote (applied_votes deduplicates its key from then on), and the stream is
 * trimmed below what the group acknowledged. On a private redis-server with a small `maxmemory`
 * (noeviction, as in the chart) and the default 300 s window, keyed votes at full speed for far
 * more records than fit are all accepted and counted once; a retry after the close still gets
 * its first answer.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { appliedAmong, castVote, createTestEnv, startPrivateRedis, startStack, tallyTotal, type PrivateRedis, type Stack, type TestEnv } from '@livevote/harness';

const MAXMEMORY = 3 * 1024 * 1024;

let env: TestEnv;
let stack: Stack;
let redis: PrivateRedis;
let admin: Redis;

beforeAll(async () => {
  redis = await startPrivateRedis('in-flight', { persistence: false, maxmemory: MAXMEMORY });
  admin = new Redis(redis.url);
  env = await createTestEnv('in_flight', `${redis.url}/0`);
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' }, consumerEnv: { TRIM_EVERY_MS: '200' } });
});
afterAll(async () => {
  admin?.disconnect();
  await stack?.stop();
  await env?.cleanup();
  await redis?.dispose();
});

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
const RUN = Date.now().toString(16).padStart(12, '0');
/** A browser-like key: a UUID, as the voter page sends. */
const browserKey = (i: number) => `${i.toString(16).padStart(8, '0')}-0000-4000-8000-${RUN}`;

it('takes keyed votes at full speed, three times more than their records would fill maxmemory with, refusing none and counting each once', async () => {
  const base = await usedMemory();
  // What one record costs while it lives (one written by hand, as the vote script writes it).
  await admin.set(`${env.redisPrefix}probe-record`, 'cats', 'EX', 300);
  const perRecord = ((await admin.call('MEMORY', 'USAGE', `${env.redisPrefix}probe-record`)) as number) ?? 136;
  await admin.del(`${env.redisPrefix}probe-record`);
  const total = Math.ceil((3 * (MAXMEMORY - base)) / perRecord);
  const statuses = new Map<number, number>();
  let next = 0;
  let peak = base;
  const t0 = performance.now();
  const sampler = setInterval(() => void usedMemory().then((m) => (peak = Math.max(peak, m)), () => {}), 100);
  try {
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < total) {
          const i = next++;
          const s = (await castVote(stack.url, i % 2 ? 'cats' : 'dogs', browserKey(i))).status;
          statuses.set(s, (statuses.get(s) ?? 0) + 1);
        }
      }),
    );
  } finally {
    clearInterval(sampler);
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `${total} keyed votes in ${seconds.toFixed(1)} s (${Math.round(total / seconds)}/s); one record ${perRecord} B, so ${Math.round((MAXMEMORY - base) / perRecord)} would fill maxmemory; ` +
      `used_memory base ${base} B, peak ${peak} B (${Math.round((100 * peak) / MAXMEMORY)} %); statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
  );
  expect(Object.fromEntries(statuses)).toEqual({ 202: total });
  await expect.poll(() => tallyTotal(env.databaseUrl), { timeout: 60_000, message: 'every vote counted' }).toBe(total);
  // Nothing of them is left in Redis once counted: no record, no stream beyond the last entry.
  await expect.poll(async () => (await admin.keys(`${env.redisPrefix}idem:*`)).length, { timeout: 10_000, message: 'records dropped' }).toBe(0);
});

it('fills up while the consumer is stopped (503, not stored), and drains once it resumes: every 202 counted, no 503, votes taken again', async () => {
  const before = await tallyTotal(env.databaseUrl);
  const accepted: string[] = [];
  const refused: string[] = [];
  const other: number[] = [];
  let i = 20_000_000;
  stack.consumers[0]!.pause();
  try {
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (refused.length < 200) {
          if (accepted.length > 200_000) throw new Error('a 3 MiB Redis never refused');
          const key = browserKey(i++);
          const s = (await castVote(stack.url, 'cats', key)).status;
          if (s === 202) accepted.push(key);
          else if (s === 503) refused.push(key);
          else other.push(s);
        }
      }),
    );
  } finally {
    stack.consumers[0]!.resume();
  }
  expect(other).toEqual([]);
  // A full Redis must not stop the consumer from emptying it.
  await expect.poll(() => tallyTotal(env.databaseUrl), { timeout: 60_000, message: 'every 202 counted' }).toBe(before + accepted.length);
  expect(await appliedAmong(env.databaseUrl, refused), 'no 503 stored').toBe(0);
  await expect.poll(async () => (await castVote(stack.url, 'dogs', browserKey(i++))).status, { timeout: 30_000, interval: 200, message: 'votes taken again' }).toBe(202);
});

it('answers a retry of a counted vote\'s key after voting closed as the first request was, though Redis forgot the key', async () => {
  const key = browserKey(10_000_000);
  expect((await castVote(stack.url, 'cats', key)).status).toBe(202);
  await expect.poll(async () => ((await (await fetch(`${stack.url}/api/vote/${key}`)).json()) as { counted: boolean }).counted, { timeout: 15_000 }).toBe(true);
  await expect.poll(() => admin.exists(`${env.redisPrefix}idem:${key}`), { timeout: 10_000, message: 'the record dropped' }).toBe(0);
  const host = { authorization: `Bearer ${stack.hostToken}`, 'content-type': 'application/json' };
  expect((await fetch(`${stack.url}/api/host/round`, { method: 'PATCH', headers: host, body: '{"voting":"closed"}' })).status).toBe(200);
  const retry = await fetch(`${stack.url}/api/vote`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: '{"option":"cats"}' });
  expect(retry.status).toBe(202);
  expect(retry.headers.get('idempotent-replayed')).toBe('true');
  expect(await retry.json()).toEqual({ id: key });
  // A key never seen is refused as closed, as before.
  expect((await castVote(stack.url, 'cats', browserKey(10_000_001))).status).toBe(409);
});
