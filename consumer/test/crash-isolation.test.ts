import { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisKeys } from '@livevote/contract';
import { createTestEnv, type TestEnv } from '@livevote/harness';
import { BatchHandler } from '../src/batch-handler.ts';
import { createConsumerMetrics } from '../src/metrics.ts';
import { TallyStore, type BatchOutcome, type VoteToApply } from '../src/tally-store.ts';
import { VoteStream } from '../src/vote-stream.ts';

// Real Redis and PostgreSQL. A consumer "dies" here as a killed process does from the stores'
// point of view: its batch stops mid-way and never cleans up (the handler is abandoned, never
// aborted); the next life is a new handler under the same consumer name, which re-reads what
// that name still holds, as consumer/src/pending-recovery.ts does on start.
let env: TestEnv;
let redis: Redis;
let pool: pg.Pool;
let store: TallyStore;
const never = new Promise<never>(() => {});

beforeAll(async () => {
  env = await createTestEnv('crash_isolation');
  redis = new Redis(env.redisUrl);
  pool = new pg.Pool({ connectionString: env.databaseUrl, max: 4 });
  store = new TallyStore(pool);
});
afterAll(async () => {
  redis?.disconnect();
  await pool?.end();
  await env?.cleanup();
});

type Hook = (votes: readonly VoteToApply[], applied: () => Promise<BatchOutcome>) => Promise<BatchOutcome>;

function life(prefix: string, name: string, hook: Hook) {
  const keys = redisKeys(prefix);
  const stream = new VoteStream(redis, keys, name);
  const metrics = createConsumerMetrics(async () => ({ length: 0, pending: 0, lag: 0 }));
  const logs: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logs.push(line) });
  const h = new BatchHandler({
    stream,
    store: { applyBatch: (votes) => hook(votes, () => store.applyBatch(votes)), isApplied: (vid) => store.isApplied(vid) },
    metrics,
    logger,
    maxDeliveries: 5,
    maxCrashes: 3,
  });
  const signal = new AbortController().signal;
  return {
    stream,
    metrics,
    logs,
    /** What this name held before (its own pending entries), then new ones; each batch as the read loop hands it over. */
    async work(): Promise<void> {
      for (;;) {
        const own = await stream.read(redis, 100, 0, '0');
        if (own.length === 0) break;
        await h.handle(own, signal, await stream.deliveryCounts(own[0]!.id, own.at(-1)!.id, own.length));
      }
      const fresh = await stream.read(redis, 100, 0, '>');
      if (fresh.length) await h.handle(fresh, signal, new Map());
    },
  };
}

async function votes(prefix: string, vids: string[]): Promise<void> {
  const keys = redisKeys(prefix);
  for (const [i, vid] of vids.entries()) await redis.xadd(keys.votes, '*', 'vid', vid, 'option', i % 2 ? 'cats' : 'dogs', 'ts', String(Date.now()));
}

/** Starts a life and returns once it is dead (stuck for good) or done. */
async function runUntilDeadOrDone(l: ReturnType<typeof life>, dies: Promise<void>): Promise<'died' | 'done'> {
  return Promise.race([l.work().then(() => 'done' as const), dies.then(() => 'died' as const)]);
}

const countedVids = async (vids: string[]) => Number((await pool.query('SELECT count(*) AS n FROM applied_votes WHERE vid = ANY($1)', [vids])).rows[0].n);
const fieldsOf = (flat: string[]) => Object.fromEntries(flat.flatMap((v, i) => (i % 2 ? [] : [[v, flat[i + 1]!]])));

it('an entry that kills the consumer outside PostgreSQL: alone after the first crash, dead-lettered at the third, the others counted', async () => {
  const prefix = `${env.redisPrefix}poison:`;
  const keys = redisKeys(prefix);
  await new VoteStream(redis, keys, 'pod-1').ensureGroup();
  const vids = Array.from({ length: 20 }, (_, i) => (i === 7 ? 'poison-vote-7' : `fine-vote-${i}`));
  await votes(prefix, vids);
  let lives = 0;
  let deaths = 0;
  const attemptsWithPoison: number[] = [];
  for (;;) {
    lives++;
    let die!: () => void;
    const dies = new Promise<void>((r) => (die = r));
    const l = life(prefix, 'pod-1', async (batch, apply) => {
      if (!batch.some((v) => v.vid === 'poison-vote-7')) return apply();
      attemptsWithPoison.push(batch.length);
      die();
      return never;
    });
    const outcome = await runUntilDeadOrDone(l, dies);
    if (outcome === 'died') {
      deaths++;
      expect(deaths, 'bounded').toBeLessThanOrEqual(3);
      continue;
    }
    expect(await l.metrics.registry.getSingleMetricAsString('livevote_consumer_dead_lettered_total')).toMatch(/reason="crashed"\} 1\b/);
    expect(l.logs.filter((line) => line.includes('crashed the consumer too often'))).toHaveLength(1);
    break;
  }
  // The first crash took the whole batch; from then on the poison entry ran alone, each time.
  expect(deaths).toBe(3);
  expect(attemptsWithPoison).toEqual([20, 1, 1]);
  const dead = await redis.xrange(keys.deadLetter, '-', '+');
  expect(dead.map(([, f]) => fieldsOf(f))).toEqual([expect.objectContaining({ reason: 'crashed', crashes: '3', 'f.vid': 'poison-vote-7', 'f.option': 'cats' })]);
  expect(await countedVids(vids)).toBe(19);
  expect(Number((await redis.xpending(keys.votes, 'tally-writers'))[0])).toBe(0);
  expect(await redis.hlen(keys.unfinished), 'no mark left behind').toBe(0);
});

it('a crash after the COMMIT, three times on one entry: acknowledged as counted, not dead-lettered', async () => {
  const prefix = `${env.redisPrefix}after_commit:`;
  const keys = redisKeys(prefix);
  await new VoteStream(redis, keys, 'pod-1').ensureGroup();
  await votes(prefix, ['late-vote-1', 'late-vote-2']);
  let deaths = 0;
  for (;;) {
    let die!: () => void;
    const dies = new Promise<void>((r) => (die = r));
    const l = life(prefix, 'pod-1', async (batch, apply) => {
      const outcome = await apply();
      if (batch.some((v) => v.vid === 'late-vote-2') && deaths < 4) {
        die();
        return never;
      }
      return outcome;
    });
    if ((await runUntilDeadOrDone(l, dies)) === 'done') break;
    deaths++;
    expect(deaths, 'bounded').toBeLessThanOrEqual(5);
  }
  expect(deaths).toBe(3);
  expect(await redis.xlen(keys.deadLetter)).toBe(0);
  expect(await countedVids(['late-vote-1', 'late-vote-2'])).toBe(2);
  expect(Number((await redis.xpending(keys.votes, 'tally-writers'))[0])).toBe(0);
  expect(await redis.hlen(keys.unfinished)).toBe(0);
});

it('deaths while waiting for PostgreSQL (five) and another consumer\'s marks count no crash: nothing dead-lettered', async () => {
  const prefix = `${env.redisPrefix}waiting:`;
  const keys = redisKeys(prefix);
  await new VoteStream(redis, keys, 'pod-1').ensureGroup();
  await votes(prefix, ['wait-vote-1', 'wait-vote-2', 'wait-vote-3']);
  const pgAway = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
  for (let i = 0; i < 5; i++) {
    // The database is away; the life waits for it (its marks are cleared) and is killed there.
    let calls = 0;
    let reached!: () => void;
    const waiting = new Promise<void>((r) => (reached = r));
    const l = life(prefix, 'pod-1', async () => {
      if (calls++ > 0) return never;
      expect(await redis.hlen(keys.unfinished), 'marked while it runs').toBeGreaterThan(0);
      reached();
      throw pgAway;
    });
    void l.work();
    await waiting;
    await expect.poll(() => redis.hlen(keys.unfinished), { message: 'marks cleared while waiting', timeout: 5000 }).toBe(0);
  }
  // Another consumer's name on the marks, two crashes each: that one may be alive, only slow,
  // so pod-1 takes them over without adding a third.
  await redis.hset(keys.unfinished, Object.fromEntries((await redis.xrange(keys.votes, '-', '+')).map(([id]) => [id, 'pod-9|2'])));
  const l = life(prefix, 'pod-1', (_batch, apply) => apply());
  await l.work();
  expect(await redis.xlen(keys.deadLetter)).toBe(0);
  expect(await countedVids(['wait-vote-1', 'wait-vote-2', 'wait-vote-3'])).toBe(3);
  expect(await redis.hlen(keys.unfinished)).toBe(0);
});

it('a re-delivered entry whose ID names its batch\'s range mark keeps the mark of its own that replaces it', async () => {
  const keys = redisKeys(`${env.redisPrefix}range_key:`);
  const stream = new VoteStream(redis, keys, 'pod-1');
  const range = await stream.markRange('10-0', '12-0');
  expect(await stream.crashesSoFar(['10-0', '11-0', '13-0'])).toEqual({ crashes: [1, 1, 0], ranges: [range] });
  await stream.markEntries([{ id: '10-0', crashes: 1, attempting: false }, { id: '11-0', crashes: 1, attempting: false }], [range]);
  expect(await redis.hgetall(keys.unfinished)).toEqual({ '10-0': '|1', '11-0': '|1' });
  expect(await stream.crashesSoFar(['10-0', '11-0'])).toEqual({ crashes: [1, 1], ranges: [] });
});
