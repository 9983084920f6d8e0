import { Redis } from 'ioredis';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROUND_CHANGE_LOCK } from '@livevote/contract';
import { shardKeys } from '@livevote/service-kit';
import { createTestEnv, type TestEnv } from '@livevote/harness';
import { RoundStore } from '../src/round-store.ts';
import { RoundStateCopy } from '../src/round-state.ts';

// A host change against real PostgreSQL and Redis, with the tally shards' counters already moved
// by counted votes (as they are in any real event).
let env: TestEnv;
let pool: pg.Pool;
let redis: Redis;
let store: RoundStore;
let copy: RoundStateCopy;
const logged: string[] = [];

beforeAll(async () => {
  env = await createTestEnv('round_store');
  pool = new pg.Pool({ connectionString: env.databaseUrl, max: 4 });
  redis = new Redis(env.redisUrl);
  store = new RoundStore(pool);
  const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(line) });
  copy = new RoundStateCopy({ redis, keys: shardKeys(env.redisPrefix, 2).map((k) => k.round), rounds: store, logger });
  // Two shards have counted 5 and 3 batches.
  await pool.query('INSERT INTO tally_shards (shard, seq) VALUES (0, 5), (1, 3)');
});
afterAll(async () => {
  redis?.disconnect();
  await pool?.end();
  await env?.cleanup();
});

it('writes the state to Redis with the seq of the change that PostgreSQL records, so the next check finds them equal', async () => {
  const round = await store.update({ voting: 'closed' }, (s) => copy.write(s).then(() => {}));
  expect(round.voting).toBe('closed');
  const record = await store.state();
  for (const k of shardKeys(env.redisPrefix, 2)) expect(Number(await redis.hget(k.round, 'seq')), k.round).toBe(record.seq);
  // Two checks in a row (a newer copy is replaced at the second): nothing to fix, nothing logged.
  await copy.restore();
  await copy.restore();
  expect(logged.filter((l) => /ahead of PostgreSQL/.test(l))).toEqual([]);
  await store.update({ voting: 'open' }, (s) => copy.write(s).then(() => {}));
});

it('answers a change with a seq no batch committed meanwhile can also have', async () => {
  // A consumer batch on shard 1 commits while the change is between its own update and COMMIT,
  // and reads the tally after its COMMIT, as the consumer does.
  const batch = await pool.connect();
  let batchSaw: { seq: number; voting: string } | undefined;
  try {
    const round = await store.update({ voting: 'closed' }, async () => {
      await batch.query('BEGIN');
      await batch.query('UPDATE tally_shards SET seq = seq + 1 WHERE shard = 1');
      await batch.query('COMMIT');
      const { rows } = await batch.query<{ seq: string; voting: string }>('SELECT seq, voting FROM current_round');
      batchSaw = { seq: Number(rows[0]!.seq), voting: rows[0]!.voting };
    });
    expect(batchSaw).toEqual({ seq: expect.any(Number), voting: 'open' });
    // Screens keep the higher seq of two: the change must be above what the batch published.
    expect(round.voting).toBe('closed');
    expect(round.seq).toBeGreaterThan(batchSaw!.seq);
    const { rows } = await pool.query<{ seq: string }>('SELECT seq FROM current_round');
    expect(round.seq).toBe(Number(rows[0]!.seq));
  } finally {
    batch.release();
  }
});

it('holds the round-change lock from before the change until COMMIT, so a consumer naming the new round waits for it', async () => {
  const other = await pool.connect();
  try {
    const tryShared = async () => (await other.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock_shared($1) AS ok', [ROUND_CHANGE_LOCK])).rows[0]!.ok;
    const held: boolean[] = [];
    const round = await store.startRound(async (s) => {
      await other.query('BEGIN');
      held.push(!(await tryShared()));
      await other.query('ROLLBACK');
      await copy.write(s);
    });
    expect(held).toEqual([true]);
    await other.query('BEGIN');
    expect(await tryShared()).toBe(true);
    await other.query('ROLLBACK');
    expect(round.voting).toBe('open');
  } finally {
    other.release();
  }
});
