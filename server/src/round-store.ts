import type pg from 'pg';
import { ROUND_CHANGE_LOCK, type HostRound, type ResultsState, type RoundPatch, type RoundSummary, type VotingState } from '@livevote/contract';
import { roundTally, type CurrentRoundRow } from './tally-reader.ts';

/** The state of the current round that the vote script needs, ordered by `seq` (its last host change). */
export interface RoundState {
  round: number;
  voting: VotingState;
  results: ResultsState;
  seq: number;
}

type HostRoundRow = CurrentRoundRow & { opened_at: Date; closed_at: Date | null; changed_seq: string };

const HOST_ROUND = 'SELECT round, voting, results, cats, dogs, seq, updated_at, opened_at, closed_at, changed_seq FROM current_round';

function hostRound(row: HostRoundRow): HostRound {
  return { ...roundTally(row), openedAt: row.opened_at.toISOString(), closedAt: row.closed_at?.toISOString() ?? null };
}

/** The state as `rounds` records it: `seq` is its change's (`changed_seq`), what `state()` reads back. */
const stateOf = (row: HostRoundRow): RoundState => ({ round: row.round, voting: row.voting, results: row.results, seq: Number(row.changed_seq) });

/**
 * Owns the `rounds` table: the record of every round and its host state. A change moves the
 * `tallies` row's part of the tally seq (the shards' batches move their own rows' parts), so
 * screens order host changes and counted votes in one sequence. `publish` runs inside the transaction,
 * after the change and before COMMIT: it puts the state where votes read it (Redis), so that
 * once the host is answered, no vote can still be accepted by the old state; if it fails, the
 * change is rolled back and the host told to retry.
 */
export class RoundStore {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async current(): Promise<HostRound> {
    const { rows } = await this.pool.query<HostRoundRow>(HOST_ROUND);
    const row = rows[0];
    if (!row) throw new Error('no current round: run the migrations');
    return hostRound(row);
  }

  /** The current round's state as last changed by a host (`seq` is that change's). */
  async state(): Promise<RoundState> {
    const { rows } = await this.pool.query<{ round: number; voting: VotingState; results: ResultsState; changed_seq: string }>(
      'SELECT round, voting, results, changed_seq FROM rounds ORDER BY round DESC LIMIT 1',
    );
    const row = rows[0];
    if (!row) throw new Error('no current round: run the migrations');
    return { round: row.round, voting: row.voting, results: row.results, seq: Number(row.changed_seq) };
  }

  async list(): Promise<RoundSummary[]> {
    const { rows } = await this.pool.query<{ round: number; cats: string; dogs: string; opened_at: Date; closed_at: Date | null }>(
      `SELECT r.round, coalesce(sum(t.cats), 0) AS cats, coalesce(sum(t.dogs), 0) AS dogs, r.opened_at, r.closed_at
         FROM rounds r LEFT JOIN round_tallies t USING (round)
        GROUP BY r.round
        ORDER BY r.round`,
    );
    return rows.map((r) => {
      const cats = Number(r.cats);
      const dogs = Number(r.dogs);
      return { round: r.round, cats, dogs, total: cats + dogs, openedAt: r.opened_at.toISOString(), closedAt: r.closed_at?.toISOString() ?? null };
    });
  }

  /** Closes the current round (if open) and opens the next one: at 0 votes, open, results shown. */
  startRound(publish: (state: RoundState) => Promise<void>): Promise<HostRound> {
    return this.change(publish, async (client, seq) => {
      await client.query(
        `UPDATE rounds SET voting = 'closed', closed_at = coalesce(closed_at, now())
          WHERE round = (SELECT max(round) FROM rounds)`,
      );
      await client.query('INSERT INTO rounds (round, changed_seq) SELECT max(round) + 1, $1 FROM rounds', [seq]);
    });
  }

  /** Opens or closes voting, shows or hides results, on the current round. */
  update(patch: RoundPatch, publish: (state: RoundState) => Promise<void>): Promise<HostRound> {
    return this.change(publish, async (client, seq) => {
      await client.query(
        `UPDATE rounds
            SET voting = coalesce($1, voting),
                results = coalesce($2, results),
                closed_at = CASE WHEN coalesce($1, voting) = 'open' THEN NULL ELSE coalesce(closed_at, now()) END,
                changed_seq = $3
          WHERE round = (SELECT max(round) FROM rounds)`,
        [patch.voting ?? null, patch.results ?? null, seq],
      );
    });
  }

  private async change(publish: (state: RoundState) => Promise<void>, apply: (client: pg.PoolClient, seq: number) => Promise<void>): Promise<HostRound> {
    const client = await this.pool.connect();
    const onError = () => {};
    client.on('error', onError);
    let failure: Error | undefined;
    try {
      await client.query('BEGIN');
      // Until COMMIT: the Redis copy written below names a round only this transaction has, and
      // consumers given votes for it wait on this lock rather than fail its foreign key.
      await client.query('SELECT pg_advisory_xact_lock($1)', [ROUND_CHANGE_LOCK]);
      const { rows } = await client.query<{ seq: string }>('UPDATE tallies SET seq = seq + 1, updated_at = now() WHERE id RETURNING seq');
      const seq = Number(rows[0]?.seq ?? Number.NaN);
      if (!Number.isSafeInteger(seq)) throw new Error('tallies row is missing: run the migrations');
      await apply(client, seq);
      const current = await client.query<HostRoundRow>(HOST_ROUND);
      const row = current.rows[0];
      if (!row) throw new Error('no current round: run the migrations');
      await publish(stateOf(row));
      await client.query('COMMIT');
      // Read again once committed, as the consumer does: a batch that committed while this change
      // was open has read the old state with this change's seq (its shard's +1 for this one's +1);
      // after COMMIT the seq counts both, so screens, which keep the higher seq, keep this one.
      // The change stands whatever this read does: never answer it as failed (the host would retry).
      const committed = await client.query<HostRoundRow>(HOST_ROUND).then((r) => r.rows[0], () => undefined);
      return hostRound(committed ?? row);
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.off('error', onError);
      // A failed change may leave the connection in any state: never reuse it.
      client.release(failure);
    }
  }
}
