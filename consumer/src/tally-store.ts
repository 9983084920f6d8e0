import type pg from 'pg';
import { ROUND_CHANGE_LOCK, type ResultsState, type VoteOption, type VotingState } from '@livevote/contract';
import { isDataError } from './pg-errors.ts';

export interface VoteToApply {
  vid: string;
  option: VoteOption;
  /** The round that accepted the vote; null (an older server's entry) counts to the current round. */
  round: number | null;
}

/** The current round after a batch: its state and numbers, and the tally seq the batch took. */
export interface AppliedTally {
  round: number;
  voting: VotingState;
  results: ResultsState;
  cats: number;
  dogs: number;
  seq: number;
  updatedAt: Date;
  /** The seq and time of the round's last host change (what the public sees while results are hidden). */
  changedSeq: number;
  changedAt: Date;
}

type CurrentRoundRow = { round: number; voting: VotingState; results: ResultsState; cats: string; dogs: string; seq: string; updated_at: Date; change_tally_seq: string; changed_at: Date };

/**
 * The single `tallies` row is absent: the migrations have not run against this database. Says
 * nothing about the batch, so the batch is retried until someone runs them.
 */
export class TalliesRowMissingError extends Error {
  constructor() {
    super('tallies row is missing: run the migrations');
    this.name = 'TalliesRowMissingError';
  }
}

export interface BatchOutcome {
  applied: number;
  duplicates: number;
  /** The new totals, or null when every vote in the batch had been applied before (no change). */
  tally: AppliedTally | null;
}

/**
 * Owns the `tally_shards`, `round_tallies` and `applied_votes` tables. One transaction per
 * batch: the row lock on the shard's `tally_shards` row orders the consumers of that shard, the
 * insert into `applied_votes` decides which votes are new, and only those are added, each to the
 * round that accepted it, so a re-delivered vote can never be counted twice, nor in another round.
 */
export class TallyStore {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /**
   * Applies a batch read from stream shard `shard`. Only that shard's row is locked, so batches of
   * different shards commit side by side; a batch of only duplicates rolls back and changes
   * nothing (not even the seq).
   */
  async applyBatch(votes: readonly VoteToApply[], shard = 0): Promise<BatchOutcome> {
    if (votes.length === 0) return { applied: 0, duplicates: 0, tally: null };
    const client = await this.pool.connect();
    // A connection lost between two statements is emitted on the client, not thrown; without a
    // listener it would crash the process. The next query fails and the batch is retried.
    const onError = () => {};
    client.on('error', onError);
    let release: ((err?: Error) => void) | undefined = (err) => {
      client.off('error', onError);
      client.release(err);
    };
    try {
      // A host change holds this lock (exclusive) until its COMMIT: no batch commits while one is
      // in progress, so the tally seq the change records for the public (while results are
      // hidden) is above every seq a batch published with the old state, and the round a vote
      // names (a server of the previous release wrote it to Redis before its COMMIT) is visible.
      await client.query(`BEGIN; SELECT pg_advisory_xact_lock_shared(${ROUND_CHANGE_LOCK})`);
      // Locks this shard's row and takes its next seq; `counted_at` is the seq screens reach
      // once they show these votes (this shard's new seq plus every other part as committed).
      const locked = await client.query<{ counted_at: string }>(
        `WITH me AS (
           INSERT INTO tally_shards AS t (shard, seq) VALUES ($1, 1)
           ON CONFLICT (shard) DO UPDATE SET seq = t.seq + 1, updated_at = now()
           RETURNING seq
         )
         SELECT (me.seq + s.seq + coalesce((SELECT sum(seq) FROM tally_shards WHERE shard <> $1), 0))::bigint AS counted_at
           FROM me CROSS JOIN tallies s WHERE s.id`,
        [shard],
      );
      const countedAt = Number(locked.rows[0]?.counted_at ?? Number.NaN);
      if (!Number.isSafeInteger(countedAt)) throw new TalliesRowMissingError();
      const { rows } = await client.query<{ added: string }>(
        `WITH ins AS (
           INSERT INTO applied_votes (vid, option, seq, round)
           SELECT v.vid, v.option, $4, coalesce(v.round, (SELECT max(round) FROM rounds))
             FROM unnest($1::text[], $2::text[], $3::int[]) AS v(vid, option, round)
           ON CONFLICT (vid) DO NOTHING
           RETURNING option, round
         ), per_round AS (
           INSERT INTO round_tallies AS t (round, shard, cats, dogs)
           SELECT round, $5, count(*) FILTER (WHERE option = 'cats'), count(*) FILTER (WHERE option = 'dogs')
             FROM ins GROUP BY round
           ON CONFLICT (round, shard) DO UPDATE SET cats = t.cats + excluded.cats, dogs = t.dogs + excluded.dogs
         )
         SELECT count(*) AS added FROM ins`,
        [votes.map((v) => v.vid), votes.map((v) => v.option), votes.map((v) => v.round), countedAt, shard],
      );
      const added = Number(rows[0]?.added ?? 0);
      if (added === 0) {
        await client.query('ROLLBACK');
        return { applied: 0, duplicates: votes.length, tally: null };
      }
      // Read after COMMIT, in the same round trip: a snapshot that includes this batch. Two
      // snapshots with the same seq saw the same state, so a screen may keep either.
      const current = (await client.query<CurrentRoundRow>(
        'COMMIT; SELECT round, voting, results, cats, dogs, seq, updated_at, change_tally_seq, changed_at FROM current_round',
      )) as unknown as pg.QueryResult<CurrentRoundRow>[];
      const row = current[1]?.rows[0];
      if (!row) throw new TalliesRowMissingError();
      return {
        applied: added,
        duplicates: votes.length - added,
        tally: {
          round: row.round,
          voting: row.voting,
          results: row.results,
          cats: Number(row.cats),
          dogs: Number(row.dogs),
          seq: Number(row.seq),
          updatedAt: row.updated_at,
          changedSeq: Number(row.change_tally_seq),
          changedAt: row.changed_at,
        },
      };
    } catch (err) {
      if (isDataError(err)) {
        // The data's fault, the connection is fine: roll back and give it back to the pool (if
        // even ROLLBACK fails, the connection is broken after all and is discarded).
        await client.query('ROLLBACK').catch((rollbackErr: Error) => {
          release?.(rollbackErr);
          release = undefined;
        });
      } else {
        // Anything else, and a read-only answer (25006) above all, discards the connection: one
        // opened during a failover or in default_transaction_read_only stays read-only for life,
        // so only a fresh one reaches the new primary, or sees writes allowed again.
        release?.(err instanceof Error ? err : new Error(String(err)));
        release = undefined;
      }
      throw err;
    } finally {
      release?.();
    }
  }

  /**
   * Deletes applied-vote IDs older than `cutoff` in bounded chunks, so a large prune never holds
   * long locks. The caller picks a cutoff no vote can still be re-delivered or retried before.
   */
  async pruneAppliedBefore(cutoff: Date, chunk = 10_000): Promise<number> {
    let total = 0;
    for (;;) {
      const { rowCount } = await this.pool.query(
        `DELETE FROM applied_votes WHERE vid IN (
           SELECT vid FROM applied_votes WHERE applied_at < $1 LIMIT $2)`,
        [cutoff, chunk],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < chunk) return total;
    }
  }

  /** Whether PostgreSQL holds this vote already (its attempt died after the COMMIT). */
  async isApplied(vid: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM applied_votes WHERE vid = $1', [vid]);
    return (rowCount ?? 0) > 0;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }
}
