import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUND_CHANGE_LOCK } from '@livevote/contract';
import { createTestEnv, type TestEnv } from '@livevote/harness';
import { MIGRATIONS_DIR, migrate } from '../src/migrate.ts';
import { isDataError } from '../src/pg-errors.ts';
import { TallyStore } from '../src/tally-store.ts';

let env: TestEnv;
let pool: pg.Pool;
let store: TallyStore;

beforeAll(async () => {
  env = await createTestEnv('round_tallies');
  pool = new pg.Pool({ connectionString: env.databaseUrl, max: 4 });
  store = new TallyStore(pool);
});
afterAll(async () => {
  await pool?.end();
  await env?.cleanup();
});

const perRound = async () =>
  Object.fromEntries(
    (await pool.query<{ round: number; cats: string; dogs: string }>('SELECT round, sum(cats) AS cats, sum(dogs) AS dogs FROM round_tallies GROUP BY round ORDER BY round')).rows.map((r) => [r.round, [Number(r.cats), Number(r.dogs)]]),
  );

describe('TallyStore with rounds', () => {
  it('adds each vote to the round that accepted it, and publishes the current round', async () => {
    await pool.query('INSERT INTO rounds (round) VALUES (2)');
    const out = await store.applyBatch([
      { vid: 'round-vote-1', option: 'cats', round: 1 },
      { vid: 'round-vote-2', option: 'dogs', round: 2 },
      { vid: 'round-vote-3', option: 'dogs', round: 2 },
      // An older server's entry names no round: it counts to the current one.
      { vid: 'round-vote-4', option: 'cats', round: null },
    ]);
    expect(out.applied).toBe(4);
    expect(await perRound()).toEqual({ 1: [1, 0], 2: [1, 2] });
    expect(out.tally).toMatchObject({ round: 2, voting: 'open', results: 'shown', cats: 1, dogs: 2 });
    const { rows } = await pool.query<{ vid: string; round: number }>("SELECT vid, round FROM applied_votes WHERE vid LIKE 'round-vote-%' ORDER BY vid");
    expect(rows.map((r) => r.round)).toEqual([1, 2, 2, 2]);
  });

  it('never counts a re-delivered vote again, nor in another round', async () => {
    const out = await store.applyBatch([{ vid: 'round-vote-1', option: 'cats', round: 2 }]);
    expect(out).toEqual({ applied: 0, duplicates: 1, tally: null });
    expect(await perRound()).toEqual({ 1: [1, 0], 2: [1, 2] });
  });

  it('commits no batch while a host change is in progress, even for a round that exists: the change\'s seq is above every batch published with the old state', async () => {
    const host = await pool.connect();
    try {
      await host.query('BEGIN');
      await host.query('SELECT pg_advisory_xact_lock($1)', [ROUND_CHANGE_LOCK]);
      let settled = false;
      const applying = store.applyBatch([{ vid: 'during-a-change', option: 'dogs', round: 1 }]).finally(() => (settled = true));
      await expect.poll(async () => (await pool.query<{ n: string }>("SELECT count(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.objid = $1 AND NOT l.granted", [ROUND_CHANGE_LOCK])).rows[0]!.n, { message: 'the batch waits on the host change', timeout: 5000 }).toBe('1');
      expect(settled).toBe(false);
      await host.query('COMMIT');
      expect((await applying).applied).toBe(1);
    } finally {
      host.release();
    }
  });

  // A server of the previous release wrote Redis's copy of a new round before its COMMIT, so
  // during a rolling upgrade votes naming the round can reach a consumer while the row is still
  // uncommitted (invisible to its FK check).
  for (const outcome of ['COMMIT', 'ROLLBACK'] as const) {
    it(`waits for a host change that is creating the vote's round, then ${outcome === 'COMMIT' ? 'counts the vote in it' : 'refuses it as a data error'} (${outcome})`, async () => {
      const host = await pool.connect();
      try {
        await host.query('BEGIN');
        await host.query('SELECT pg_advisory_xact_lock($1)', [ROUND_CHANGE_LOCK]);
        await host.query('UPDATE tallies SET seq = seq + 1 WHERE id');
        const { rows } = await host.query<{ round: number }>('INSERT INTO rounds (round) SELECT max(round) + 1 FROM rounds RETURNING round');
        const round = rows[0]!.round;
        let settled = false;
        const applying = store.applyBatch([{ vid: `uncommitted-round-${outcome}`, option: 'cats', round }]).finally(() => (settled = true));
        applying.catch(() => {});
        // Still waiting while the change is open: it has not failed on the foreign key.
        await expect.poll(async () => (await pool.query<{ n: string }>("SELECT count(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.objid = $1 AND NOT l.granted", [ROUND_CHANGE_LOCK])).rows[0]!.n, { message: 'the batch waits on the host change', timeout: 5000 }).toBe('1');
        expect(settled).toBe(false);
        await host.query(outcome);
        if (outcome === 'COMMIT') {
          expect((await applying).applied).toBe(1);
          expect((await perRound())[round]).toEqual([1, 0]);
        } else {
          expect(isDataError(await applying.catch((e: unknown) => e))).toBe(true);
        }
      } finally {
        await host.query('ROLLBACK').catch(() => {});
        host.release();
      }
    });
  }

  it('refuses a round the record does not know as a data error (isolated, then dead-lettered)', async () => {
    const before = await perRound();
    const err = await store.applyBatch([{ vid: 'round-vote-99', option: 'cats', round: 99 }]).catch((e: unknown) => e);
    expect(isDataError(err)).toBe(true);
    expect(await perRound()).toEqual(before);
  });
});

describe('TallyStore with stream shards', () => {
  it('keeps one row per shard: shards commit side by side and the seq is their sum, never going back', async () => {
    const before = (await pool.query<{ seq: string }>('SELECT seq FROM current_round')).rows[0]!.seq;
    // Shard 1's transaction holds its row; shard 2's batch still commits meanwhile.
    const holder = await pool.connect();
    await holder.query('BEGIN');
    await holder.query("INSERT INTO tally_shards (shard, seq) VALUES (1, 1) ON CONFLICT (shard) DO UPDATE SET seq = tally_shards.seq + 1");
    const other = await store.applyBatch([{ vid: 'shard-2-vote', option: 'cats', round: 2 }], 2);
    expect(other.applied).toBe(1);
    expect(other.tally!.seq).toBe(Number(before) + 1);
    await holder.query('ROLLBACK');
    holder.release();
    const one = await store.applyBatch([{ vid: 'shard-1-vote', option: 'dogs', round: 2 }], 1);
    expect(one.tally!.seq).toBe(Number(before) + 2);
    const { rows } = await pool.query<{ shard: number; seq: string }>('SELECT shard, seq FROM tally_shards ORDER BY shard');
    expect(rows.map((r) => r.shard)).toEqual([0, 1, 2]);
    expect(await perRound()).toMatchObject({ 2: [2, 3] });
    const status = await pool.query<{ seq: string }>("SELECT seq FROM applied_votes WHERE vid = 'shard-1-vote'");
    // Every screen that shows the vote has at least this seq.
    expect(Number(status.rows[0]!.seq)).toBeLessThanOrEqual(one.tally!.seq);
  });
});

describe('the rounds migration', () => {
  it('makes every vote counted before it round 1', async () => {
    const admin = new pg.Client({ connectionString: env.databaseUrl.replace(/\/[^/]+$/, '/postgres') });
    await admin.connect();
    const name = `lv_test_rounds_migration_${process.pid}`;
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name}`);
    const url = env.databaseUrl.replace(/\/[^/]+$/, `/${name}`);
    try {
      await runner({ databaseUrl: url, dir: MIGRATIONS_DIR, direction: 'up', count: 1, migrationsTable: 'pgmigrations', log: () => {} });
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      await db.query("UPDATE tallies SET cats = 7, dogs = 5, seq = 3");
      await db.query("INSERT INTO applied_votes (vid, option, seq) VALUES ('old-vote-1', 'cats', 3)");
      await db.end();
      expect(await migrate(url)).toEqual(['1765000000000_rounds', '1766000000000_stream_shards', '1767100000000_host_changes', '1767200000000_rounds_changed_at', '1767300000000_host_session_epoch']);
      const after = new pg.Client({ connectionString: url });
      await after.connect();
      const current = await after.query('SELECT round, voting, results, cats, dogs, seq FROM current_round');
      expect(current.rows[0]).toEqual({ round: 1, voting: 'open', results: 'shown', cats: '7', dogs: '5', seq: '3' });
      // The next batch (shard 0's first) moves the seq on from there, never back.
      const migratedPool = new pg.Pool({ connectionString: url, max: 1 });
      const next = await new TallyStore(migratedPool).applyBatch([{ vid: 'after-migration', option: 'dogs', round: 1 }]);
      await migratedPool.end();
      expect(next.tally).toMatchObject({ round: 1, cats: 7, dogs: 6, seq: 4 });
      expect((await after.query("SELECT round FROM applied_votes WHERE vid = 'old-vote-1'")).rows[0]).toEqual({ round: 1 });
      await after.end();
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
