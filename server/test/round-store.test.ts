import { Redis } from 'ioredis';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUND_CHANGE_LOCK } from '@livevote/contract';
import { shardKeys } from '@livevote/service-kit';
import { createTestEnv, startPgFaultProxy, type PgFaultProxy, type TestEnv } from '@livevote/harness';
import { ChangeKeyReusedError, ChangeOutcomeUnknownError, NothingChangedError, RoundStore } from '../src/round-store.ts';
import { RoundStateCopy } from '../src/round-state.ts';

// Host changes against real PostgreSQL (through a proxy that can drop, hold or cut a COMMIT) and
// real Redis, with the tally shards' counters already moved by counted votes (as in any event).
let env: TestEnv;
let proxy: PgFaultProxy;
let pool: pg.Pool;
let direct: pg.Pool;
let redis: Redis;
let store: RoundStore;
let copy: RoundStateCopy;
const logged: string[] = [];
let n = 0;
const key = (what: string) => `${what}-${Date.now()}-${n++}`;

beforeAll(async () => {
  env = await createTestEnv('round_store');
  const url = new URL(env.databaseUrl);
  proxy = await startPgFaultProxy({ host: url.hostname, port: Number(url.port || 5432) });
  pool = new pg.Pool({ connectionString: proxy.url(env.databaseUrl), max: 4 });
  pool.on('error', () => {});
  direct = new pg.Pool({ connectionString: env.databaseUrl, max: 4 });
  redis = new Redis(env.redisUrl);
  store = new RoundStore(pool, { outcomeWaitMs: 1500, commitTimeoutMs: 1000 });
  const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(line) });
  copy = new RoundStateCopy({ redis, keys: shardKeys(env.redisPrefix, 2).map((k) => k.round), rounds: store, logger });
  // Two shards have counted 5 and 3 batches.
  await direct.query('INSERT INTO tally_shards (shard, seq) VALUES (0, 5), (1, 3)');
});
afterAll(async () => {
  redis?.disconnect();
  await pool?.end();
  await direct?.end();
  await proxy?.close();
  await env?.cleanup();
});

const close = { kind: 'patch', patch: { voting: 'closed' } } as const;
const open = { kind: 'patch', patch: { voting: 'open' } } as const;
const roundCount = async () => Number((await direct.query<{ n: string }>('SELECT count(*) AS n FROM rounds')).rows[0]!.n);

it('records the change with the seq that the copy in Redis then carries, so the next check finds them equal', async () => {
  const done = await store.change(key('close'), close);
  expect(done).toMatchObject({ outcome: 'committed', changes: ['voting'], status: 200, round: { voting: 'closed' } });
  expect(await copy.write(done.state!)).toBe(true);
  const record = await store.state();
  expect(record).toEqual(done.state);
  for (const k of shardKeys(env.redisPrefix, 2)) expect(Number(await redis.hget(k.round, 'seq')), k.round).toBe(record.seq);
  // Two checks in a row (a newer copy is replaced at the second): nothing to fix, nothing logged.
  await copy.restore();
  await copy.restore();
  expect(logged.filter((l) => /ahead of PostgreSQL/.test(l))).toEqual([]);
  await store.change(key('open'), open);
});

it('a change that changes nothing moves no seq and says so', async () => {
  const before = await store.current();
  const done = await store.change(key('noop'), { kind: 'patch', patch: { voting: before.voting, results: before.results } });
  expect(done).toMatchObject({ outcome: 'unchanged', changes: [], status: 200 });
  expect((await store.current()).seq).toBe(before.seq);
  // Part of a patch that changes something: only that part counts as changed.
  const half = await store.change(key('half'), { kind: 'patch', patch: { voting: before.voting, results: 'hidden' } });
  expect(half.changes).toEqual(['results']);
  await store.change(key('show'), { kind: 'patch', patch: { results: 'shown' } });
});

it('starts a round hidden and closed when asked, never shown for a moment', async () => {
  const before = await store.current();
  const done = await store.change(key('start'), { kind: 'new-round', start: { voting: 'closed', results: 'hidden' } });
  expect(done).toMatchObject({ outcome: 'committed', status: 201, round: { round: before.round + 1, voting: 'closed', results: 'hidden', total: 0, closedAt: expect.any(String) } });
  expect(done.state).toMatchObject({ round: before.round + 1, voting: 'closed', results: 'hidden' });
  await store.change(key('reopen'), { kind: 'patch', patch: { voting: 'open', results: 'shown' } });
});

it('makes one change per key: a retry replays the first answer, another change under the same key is refused', async () => {
  const k = key('once');
  const before = await roundCount();
  const first = await store.change(k, { kind: 'new-round', start: {} });
  const again = await store.change(k, { kind: 'new-round', start: {} });
  expect(again).toMatchObject({ outcome: 'replayed', status: 201, round: first.round });
  expect(await roundCount()).toBe(before + 1);
  await expect(store.change(k, close)).rejects.toBeInstanceOf(ChangeKeyReusedError);
  await expect(store.change(k, { kind: 'new-round', start: { results: 'hidden' } })).rejects.toBeInstanceOf(ChangeKeyReusedError);
});

it('a retry sent while the first attempt is still committing waits for it and replays it', async () => {
  const k = key('concurrent');
  const before = await roundCount();
  const fired = proxy.armCommit({ kind: 'hold', ms: 400 });
  const [a, b] = await Promise.all([store.change(k, { kind: 'new-round', start: {} }), fired.then(() => store.change(k, { kind: 'new-round', start: {} }))]);
  expect([a.outcome, b.outcome].sort()).toEqual(['committed', 'replayed']);
  expect(b.round.round).toBe(a.round.round);
  expect(await roundCount()).toBe(before + 1);
});

describe('a COMMIT that misbehaves', () => {
  it('dropped: nothing changed, said so for sure', async () => {
    const before = await store.current();
    const fired = proxy.armCommit({ kind: 'drop' });
    await expect(store.change(key('drop'), { kind: 'new-round', start: {} })).rejects.toBeInstanceOf(NothingChangedError);
    await fired;
    expect((await store.current()).round).toBe(before.round);
    expect(await store.state()).toMatchObject({ round: before.round });
  });

  it('cut after it was carried out: learned from its own row, answered as committed', async () => {
    const before = await store.current();
    const fired = proxy.armCommit({ kind: 'cut-after' });
    const done = await store.change(key('cut'), { kind: 'new-round', start: {} });
    await fired;
    expect(done).toMatchObject({ outcome: 'committed', status: 201, round: { round: before.round + 1 } });
    expect(done.state).toMatchObject({ round: before.round + 1 });
  });

  it('held past every bound: outcome unknown, and a retry with the key learns what happened', async () => {
    const before = await store.current();
    const k = key('unknown');
    const fired = proxy.armCommit({ kind: 'hold', ms: 4000 });
    await expect(store.change(k, { kind: 'new-round', start: {} })).rejects.toBeInstanceOf(ChangeOutcomeUnknownError);
    await fired;
    const retry = await store.change(k, { kind: 'new-round', start: {} });
    expect(retry).toMatchObject({ outcome: 'replayed', round: { round: before.round + 1 } });
    expect((await store.current()).round).toBe(before.round + 1);
  });

  it('held: the record read for a restore waits for the change, so it is never older than what the host is told', async () => {
    const fired = proxy.armCommit({ kind: 'hold', ms: 500 });
    const changing = store.change(key('held-close'), close);
    // The change holds the round-change lock until its COMMIT lands.
    const other = await direct.connect();
    try {
      await expect.poll(async () => {
        await other.query('BEGIN');
        const { rows } = await other.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock_shared($1) AS ok', [ROUND_CHANGE_LOCK]);
        await other.query('ROLLBACK');
        return rows[0]!.ok;
      }, { timeout: 5000, interval: 20 }).toBe(false);
    } finally {
      other.release();
    }
    const record = new RoundStore(direct).state();
    const done = await changing;
    await fired;
    expect(await record).toEqual(done.state);
    expect((await record).voting).toBe('closed');
    await store.change(key('open'), open);
  });

  it('held: answers with a seq above what a batch that committed meanwhile published', async () => {
    const commits = proxy.commits;
    const fired = proxy.armCommit({ kind: 'hold', ms: 300 });
    const changing = store.change(key('seq'), close);
    // A consumer batch on shard 1 commits while the change waits for its COMMIT, and reads the
    // tally after its own COMMIT, as the consumer does.
    await expect.poll(() => proxy.commits, { timeout: 5000, interval: 5 }).toBeGreaterThan(commits);
    const batch = await direct.connect();
    let batchSaw: { seq: number; voting: string };
    try {
      await batch.query('BEGIN');
      await batch.query('UPDATE tally_shards SET seq = seq + 1 WHERE shard = 1');
      await batch.query('COMMIT');
      const { rows } = await batch.query<{ seq: string; voting: string }>('SELECT seq, voting FROM current_round');
      batchSaw = { seq: Number(rows[0]!.seq), voting: rows[0]!.voting };
    } finally {
      batch.release();
    }
    const done = await changing;
    await fired;
    expect(batchSaw.voting).toBe('open');
    // Screens keep the higher seq of two: the change must be above what the batch published.
    expect(done.round.voting).toBe('closed');
    expect(done.round.seq).toBeGreaterThan(batchSaw.seq);
    const { rows } = await direct.query<{ seq: string }>('SELECT seq FROM current_round');
    expect(done.round.seq).toBe(Number(rows[0]!.seq));
    await store.change(key('open'), open);
  });
});

it('a connection cut while checked out (a TCP reset mid-query): the read rejects and the process lives on', async () => {
  // Found by `npm run nemesis` (a reset on the server→PostgreSQL link): pg emits 'error' on a
  // checked-out client whose connection ends, even with a query running; without a listener that
  // ended the server process.
  const holder = await direct.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock($1)', [ROUND_CHANGE_LOCK]);
    const pending = store.state().then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    // The read waits on the round-change lock: its query is running when the link goes.
    await expect.poll(async () => (await direct.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock_shared%'`)).rows[0].n).toBe(1);
    proxy.cutAll();
    expect(await pending).toMatch(/Connection terminated unexpectedly/);
  } finally {
    await holder.query('ROLLBACK');
    holder.release();
  }
});
