/**
 * PostgreSQL that answers but refuses every write (SQLSTATE 25006): a failover onto a standby, a
 * managed database's disk-full mode, `default_transaction_read_only`. That is the database being
 * away, not bad data: no vote may be dead-lettered, however long it lasts and however often its
 * entries are delivered; once writes come back every vote is counted exactly once.
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterEach, expect, it, vi } from 'vitest';
import { CONSUMER_GROUP, redisKeys } from '@livevote/contract';
import { castVote, createTestEnv, startStack, TEST_PG_ADMIN_URL, type ServiceProcess, type Stack, type TestEnv } from '@livevote/harness';
import { figure } from './figures.ts';
import { appliedCount, pendingCount, tallyTotal } from './harness.ts';

const MAX_DELIVERIES = 2;
const CLAIM_IDLE_MS = 1000;
// Small limits, so that the old bad path (isolate, re-deliver, dead-letter) shows within seconds.
const consumerEnv = { MAX_DELIVERIES: String(MAX_DELIVERIES), CLAIM_IDLE_MS: String(CLAIM_IDLE_MS), CLAIM_EVERY_MS: '200', BATCH_SIZE: '50' };

let env: TestEnv | undefined;
let stack: Stack | undefined;
let redis: Redis | undefined;
afterEach(async () => {
  redis?.disconnect();
  await stack?.stop();
  await env?.cleanup();
  redis = stack = env = undefined;
});

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const dbName = (e: TestEnv) => new URL(e.databaseUrl).pathname.slice(1);

/** Only the test's own database: new sessions start read-only, and the consumer's current ones are ended. */
async function setReadOnly(e: TestEnv, on: boolean): Promise<number> {
  return admin(async (c) => {
    await c.query(`ALTER DATABASE ${pg.escapeIdentifier(dbName(e))} ${on ? 'SET default_transaction_read_only = on' : 'RESET default_transaction_read_only'}`);
    if (!on) return 0;
    const { rowCount } = await c.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'livevote-consumer'`,
      [dbName(e)],
    );
    return rowCount ?? 0;
  });
}

async function postgresErrors(consumer: ServiceProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${consumer.options.env.PORT}/metrics`)).text();
  const m = /^livevote_consumer_errors_total\{dependency="postgres"\} (\d+)/m.exec(text);
  return Number(m?.[1] ?? Number.NaN);
}

/** Pending entries of the group: id, owner, idle ms, deliveries. */
async function pendingEntries(r: Redis, e: TestEnv): Promise<{ id: string; owner: string; idle: number; deliveries: number }[]> {
  const rows = (await r.xpending(redisKeys(e.redisPrefix).votes, CONSUMER_GROUP, '-', '+', 10_000)) as [string, string, number, number][];
  return rows.map(([id, owner, idle, deliveries]) => ({ id, owner, idle: Number(idle), deliveries: Number(deliveries) }));
}

async function castKeyed(url: string, keys: string[], concurrency = 16): Promise<Map<string, number>> {
  const statuses = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        statuses.set(key, (await castVote(url, next % 3 ? 'cats' : 'dogs', key)).status);
      }
    }),
  );
  return statuses;
}

async function countedFlags(url: string, keys: string[]): Promise<boolean[]> {
  return Promise.all(keys.map(async (k) => ((await (await fetch(`${url}/api/vote/${k}`)).json()) as { counted: boolean }).counted));
}

it('a read-only database (25006) with 200 keyed votes: none dead-lettered while it lasts, all counted once writes return', async () => {
  env = await createTestEnv('fault_pg_read_only');
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' }, consumerEnv });
  const e = env;
  const s = stack;
  const consumer = s.consumers[0]!;
  redis = new Redis(e.redisUrl);
  const r = redis;
  const keys = redisKeys(e.redisPrefix);
  // A first vote, so the consumer holds a read-write session that the failover then ends.
  expect((await castVote(s.url, 'cats', `ro-warm-up-${process.pid}`)).status).toBe(202);
  await expect.poll(() => tallyTotal(e.databaseUrl), { message: 'warm-up vote counted', timeout: 15_000 }).toBe(1);

  const terminated = await setReadOnly(e, true);
  const errors0 = await postgresErrors(consumer);
  const voteKeys = Array.from({ length: 200 }, (_, i) => `ro-${process.pid}-${i}`);
  const statuses = await castKeyed(s.url, voteKeys);
  expect([...statuses.values()].every((st) => st === 202), 'all 200 answered 202').toBe(true);

  // Long enough for several claim cycles: the entries the consumer holds have been idle for
  // MAX_DELIVERIES + 2 claim windows (a re-delivering consumer would have dead-lettered them by
  // now) and the consumer has failed more writes than MAX_DELIVERIES. Or the bad path showed.
  const seen = await vi.waitFor(async () => {
    const dead = await r.xlen(keys.deadLetter);
    const pending = await pendingEntries(r, e);
    const errors = (await postgresErrors(consumer)) - errors0;
    const oldestIdle = Math.max(0, ...pending.map((p) => p.idle));
    expect(dead > 0 || (errors > MAX_DELIVERIES + 2 && oldestIdle >= (MAX_DELIVERIES + 2) * CLAIM_IDLE_MS), `claim cycles passed (errors ${errors}, idle ${oldestIdle} ms, dead ${dead})`).toBe(true);
    return { dead, pending, errors, oldestIdle };
  }, { timeout: 60_000, interval: 100 });
  expect(seen.dead, 'nothing dead-lettered while the database is read-only').toBe(0);
  expect(await tallyTotal(e.databaseUrl)).toBe(1);
  expect(seen.pending.length, 'the votes read so far stay pending').toBeGreaterThan(0);
  expect(Math.max(...seen.pending.map((p) => p.deliveries)), 'no delivery count run up while retrying').toBeLessThanOrEqual(MAX_DELIVERIES);
  expect(await countedFlags(s.url, voteKeys.slice(0, 5))).toEqual([false, false, false, false, false]);

  // Writes come back; the consumer's sessions are NOT ended again: it must drop the read-only
  // connections itself and open fresh ones.
  await setReadOnly(e, false);
  const t0 = Date.now();
  try {
    await expect.poll(() => tallyTotal(e.databaseUrl), { message: 'all 201 counted after writes return', timeout: 30_000 }).toBe(201);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nconsumer output:\n${consumer.output().slice(-3000)}`);
  }
  const recoverSeconds = (Date.now() - t0) / 1000;
  await expect.poll(() => pendingCount(e.redisUrl, e.redisPrefix), { message: 'nothing pending', timeout: 15_000 }).toBe(0);
  const counted = await tallyTotal(e.databaseUrl);
  const applied = await appliedCount(e.databaseUrl);
  const dead = await r.xlen(keys.deadLetter);
  const flags = await countedFlags(s.url, voteKeys);
  figure('PostgreSQL read-only (25006), 200 keyed votes', {
    votes2xx: 200, terminatedSessions: terminated, writeFailuresWhileReadOnly: seen.errors, oldestPendingIdleMs: seen.oldestIdle,
    deadLetteredWhileReadOnly: seen.dead, deadLettered: dead, counted: counted - 1, applied: applied - 1, recoverSeconds,
    countedTrue: flags.filter(Boolean).length, consumerExits: consumer.exits.length,
  });
  expect(counted).toBe(201);
  expect(applied).toBe(201);
  expect(dead).toBe(0);
  expect(flags.every(Boolean), 'GET /api/vote/:id says counted for every key').toBe(true);
  expect(consumer.exits).toEqual([]);
});

it('entries re-delivered past MAX_DELIVERIES while the database is read-only are retried, not dead-lettered', async () => {
  env = await createTestEnv('fault_pg_ro_claimed');
  stack = await startStack({ ...env, consumers: 0, env: { RATE_LIMIT: 'off' }, consumerEnv });
  const e = env;
  const s = stack;
  redis = new Redis(e.redisUrl);
  const r = redis;
  const keys = redisKeys(e.redisPrefix);
  // A pod took 100 votes and died with them; its restarts (or other pods' claims) during the
  // outage ran their delivery counts past MAX_DELIVERIES.
  await r.xgroup('CREATE', keys.votes, CONSUMER_GROUP, '0', 'MKSTREAM');
  const voteKeys = Array.from({ length: 100 }, (_, i) => `ro-claimed-${process.pid}-${i}`);
  expect([...(await castKeyed(s.url, voteKeys)).values()].every((st) => st === 202)).toBe(true);
  const taken = (await r.xreadgroup('GROUP', CONSUMER_GROUP, 'dead-pod', 'COUNT', 1000, 'STREAMS', keys.votes, '>')) as [string, [string, string[]][]][];
  const ids = taken[0]![1].map(([id]) => id);
  expect(ids).toHaveLength(100);
  await r.call('XCLAIM', keys.votes, CONSUMER_GROUP, 'dead-pod', 0, ...ids, 'IDLE', 600_000, 'RETRYCOUNT', MAX_DELIVERIES + 3, 'JUSTID');

  await setReadOnly(e, true);
  const consumer = await s.addConsumer();
  const name = consumer.options.env.CONSUMER_NAME!;
  const seen = await vi.waitFor(async () => {
    const dead = await r.xlen(keys.deadLetter);
    const pending = await pendingEntries(r, e);
    const errors = await postgresErrors(consumer);
    // XAUTOCLAIM takes them a batch (BATCH_SIZE) at a time; the first batch is then retried.
    const claimed = pending.filter((p) => p.owner === name).length;
    expect(dead > 0 || (claimed > 0 && errors > MAX_DELIVERIES + 2), `claimed and retried (claimed ${claimed}, errors ${errors}, dead ${dead})`).toBe(true);
    return { dead, pending, errors, claimed };
  }, { timeout: 60_000, interval: 100 });
  expect(seen.dead, 'nothing dead-lettered while the database is read-only').toBe(0);
  const maxDeliveries = Math.max(...seen.pending.map((p) => p.deliveries));
  expect(seen.pending, 'all 100 still pending').toHaveLength(100);
  expect(Math.min(...seen.pending.filter((p) => p.owner === name).map((p) => p.deliveries)), 'claimed ones delivered past MAX_DELIVERIES').toBeGreaterThan(MAX_DELIVERIES);

  await setReadOnly(e, false);
  await expect.poll(() => tallyTotal(e.databaseUrl), { message: 'all 100 counted after writes return', timeout: 30_000 }).toBe(100);
  await expect.poll(() => pendingCount(e.redisUrl, e.redisPrefix), { message: 'nothing pending', timeout: 15_000 }).toBe(0);
  const dead = await r.xlen(keys.deadLetter);
  const applied = await appliedCount(e.databaseUrl);
  figure('PostgreSQL read-only (25006), 100 votes re-delivered past MAX_DELIVERIES', {
    votes2xx: 100, claimedWhileReadOnly: seen.claimed, deliveriesWhileReadOnly: maxDeliveries, maxDeliveriesSetting: MAX_DELIVERIES, writeFailuresWhileReadOnly: seen.errors,
    deadLettered: dead, counted: await tallyTotal(e.databaseUrl), applied,
  });
  expect(dead).toBe(0);
  expect(applied).toBe(100);
  expect(await countedFlags(s.url, voteKeys)).toEqual(voteKeys.map(() => true));
});
