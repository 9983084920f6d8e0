import type pg from 'pg';
import { ROUND_CHANGE_LOCK, type HostRound, type ResultsState, type RoundPatch, type RoundStart, type RoundSummary, type VotingState } from '@livevote/contract';
import { CURRENT_ROUND_COLUMNS, roundTally, type CurrentRoundRow } from './tally-reader.ts';

/** The state of the current round that the vote script needs, ordered by `seq` (its last host change). */
export interface RoundState {
  round: number;
  voting: VotingState;
  results: ResultsState;
  seq: number;
}

type HostRoundRow = CurrentRoundRow & { opened_at: Date; closed_at: Date | null; changed_seq: string };

const HOST_ROUND = `SELECT ${CURRENT_ROUND_COLUMNS}, opened_at, closed_at FROM current_round`;

function hostRound(row: HostRoundRow): HostRound {
  return { ...roundTally(row), openedAt: row.opened_at.toISOString(), closedAt: row.closed_at?.toISOString() ?? null };
}

/** The state as `rounds` records it: `seq` is its change's (`changed_seq`), what `state()` reads back. */
const stateOf = (row: HostRoundRow): RoundState => ({ round: row.round, voting: row.voting, results: row.results, seq: Number(row.changed_seq) });

/**
 * The shards' part of the tally seq. Read during a change it is final: every batch takes the
 * round-change lock (shared), so none commits while a change holds it.
 */
const SHARD_SEQS = '(SELECT coalesce(sum(seq), 0) FROM tally_shards)';

/** A host change as asked: what `request` names, so a key reused for another change is told apart. */
export type HostChange = { kind: 'new-round'; start: RoundStart } | { kind: 'patch'; patch: RoundPatch };

/**
 * How a change went, when it went through:
 * - `committed`: this request changed the round (`state` is what it committed);
 * - `unchanged`: it asked for what already was (no seq moved, nothing to announce);
 * - `replayed`: the key's change was made before; `round` is the first answer.
 */
export interface ChangeOutcome {
  outcome: 'committed' | 'unchanged' | 'replayed';
  /** What this request changed (empty unless `committed`). */
  changes: ('round' | 'voting' | 'results')[];
  status: 200 | 201;
  round: HostRound;
  /** The state to put where votes read it; null when PostgreSQL could not be read again after a COMMIT whose answer was lost. */
  state: RoundState | null;
}

/** Surely nothing changed (rolled back, or never sent): retrying is safe. */
export class NothingChangedError extends Error {
  override readonly name = 'NothingChangedError';
}
/** COMMIT was sent and its outcome could not be learned in time: retry only with the same key. */
export class ChangeOutcomeUnknownError extends Error {
  override readonly name = 'ChangeOutcomeUnknownError';
}
/** The key was used for another change. */
export class ChangeKeyReusedError extends Error {
  override readonly name = 'ChangeKeyReusedError';
}

export interface RoundStoreOptions {
  /** How long a server whose COMMIT got no answer tries to learn whether it happened. */
  outcomeWaitMs?: number;
  /** How long COMMIT may take before its outcome is looked up instead of awaited. */
  commitTimeoutMs?: number;
  /** How long a host change's key is kept (a retry after that is a new change). */
  keyRetentionHours?: number;
}

const requestOf = (change: HostChange) =>
  change.kind === 'new-round'
    ? `POST rounds ${JSON.stringify({ voting: change.start.voting ?? 'open', results: change.start.results ?? 'shown' })}`
    : `PATCH round ${JSON.stringify({ voting: change.patch.voting ?? null, results: change.patch.results ?? null })}`;

type StoredAnswer = { request: string; status: 200 | 201; answer: HostRound; changes: ChangeOutcome['changes'] };

/**
 * Owns the `rounds` and `host_changes` tables: the record of every round, its host state, and
 * every host change by its key. A change moves the `tallies` row's part of the tally seq (the
 * shards' batches move their own rows' parts), so screens order host changes and counted votes in
 * one sequence. Only a committed change may reach Redis (the caller writes it there after this
 * returns): a vote can never be accepted into a round, or by a state, PostgreSQL does not hold.
 */
export class RoundStore {
  private readonly pool: pg.Pool;
  private readonly outcomeWaitMs: number;
  private readonly commitTimeoutMs: number;
  private readonly keyRetentionHours: number;

  constructor(pool: pg.Pool, options: RoundStoreOptions = {}) {
    this.pool = pool;
    this.outcomeWaitMs = options.outcomeWaitMs ?? 3000;
    this.commitTimeoutMs = options.commitTimeoutMs ?? 5000;
    this.keyRetentionHours = options.keyRetentionHours ?? 24;
  }

  async current(): Promise<HostRound> {
    const { rows } = await this.pool.query<HostRoundRow>(HOST_ROUND);
    const row = rows[0];
    if (!row) throw new Error('no current round: run the migrations');
    return hostRound(row);
  }

  /**
   * A pooled client that cannot end the process: pg emits 'error' on a checked-out client whose
   * connection ends (a reset link), even while a query runs and rejects with it. The query's
   * rejection is what callers handle; the listener lives until the client goes back to the pool.
   */
  private async checkout(): Promise<pg.PoolClient> {
    const client = await this.pool.connect();
    const ignore = () => {};
    client.on('error', ignore);
    const release = client.release.bind(client);
    client.release = (err?: Error | boolean) => {
      client.off('error', ignore);
      release(err);
    };
    return client;
  }

  /**
   * The current round's state as last changed by a host (`seq` is that change's), read under the
   * round-change lock (shared): a change still committing is waited for, so what this returns is
   * never older than a change a host may already have been answered.
   */
  async state(): Promise<RoundState> {
    const client = await this.checkout();
    let failure: Error | undefined;
    try {
      const results = (await client.query(
        `BEGIN READ ONLY;
         SELECT pg_advisory_xact_lock_shared(${ROUND_CHANGE_LOCK});
         SELECT round, voting, results, changed_seq FROM rounds ORDER BY round DESC LIMIT 1;
         COMMIT`,
      )) as unknown as pg.QueryResult<{ round: number; voting: VotingState; results: ResultsState; changed_seq: string }>[];
      const row = results[2]?.rows[0];
      if (!row) throw new Error('no current round: run the migrations');
      return { round: row.round, voting: row.voting, results: row.results, seq: Number(row.changed_seq) };
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.release(failure);
    }
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

  /**
   * Makes the change once per `key`: a new round (the previous one closed; the new one at 0
   * votes, open and shown unless asked otherwise), or a patch of the current round's state.
   */
  async change(key: string, change: HostChange): Promise<ChangeOutcome> {
    const request = requestOf(change);
    const prior = await this.answerFor(this.pool, key);
    if (prior) return this.replay(prior, request);

    const client = await this.checkout();
    let failure: Error | undefined;
    let committing = false;
    try {
      await client.query('BEGIN');
      // Orders changes, and makes a retry of this key wait for a first attempt still committing.
      await client.query('SELECT pg_advisory_xact_lock($1)', [ROUND_CHANGE_LOCK]);
      const raced = await this.answerFor(client, key);
      if (raced) {
        await client.query('ROLLBACK');
        return this.replay(raced, request);
      }
      const before = (await client.query<HostRoundRow>(HOST_ROUND)).rows[0];
      if (!before) throw new Error('no current round: run the migrations');
      const changes: ChangeOutcome['changes'] =
        change.kind === 'new-round'
          ? ['round']
          : (['voting', 'results'] as const).filter((f) => change.patch[f] !== undefined && change.patch[f] !== before[f]);
      const noop = changes.length === 0;
      let row = before;
      if (!noop) {
        const { rows } = await client.query<{ seq: string }>('UPDATE tallies SET seq = seq + 1, updated_at = now() WHERE id RETURNING seq');
        const seq = Number(rows[0]?.seq ?? Number.NaN);
        if (!Number.isSafeInteger(seq)) throw new Error('tallies row is missing: run the migrations');
        await this.apply(client, change, seq);
        const after = (await client.query<HostRoundRow>(HOST_ROUND)).rows[0];
        if (!after) throw new Error('no current round: run the migrations');
        row = after;
      }
      const status = change.kind === 'new-round' ? 201 : 200;
      await client.query(`DELETE FROM host_changes WHERE created_at < now() - make_interval(hours => $1)`, [this.keyRetentionHours]);
      await client.query('INSERT INTO host_changes (key, request, status, answer, changes) VALUES ($1, $2, $3, $4, $5)', [key, request, status, JSON.stringify(hostRound(row)), changes]);
      committing = true;
      await client.query({ text: 'COMMIT', query_timeout: this.commitTimeoutMs } as pg.QueryConfig);
      committing = false;
      if (noop) return { outcome: 'unchanged', changes, status, round: hostRound(row), state: stateOf(row) };
      // Read again once committed, as the consumer does: a batch that committed while this change
      // was open has read the old state with this change's seq (its shard's +1 for this one's +1);
      // after COMMIT the seq counts both, so screens, which keep the higher seq, keep this one.
      // The change stands whatever this read does: never answer it as failed (the host would retry).
      const committed = await client.query<HostRoundRow>(HOST_ROUND).then((r) => r.rows[0], () => undefined);
      return { outcome: 'committed', changes, status, round: hostRound(committed ?? row), state: stateOf(row) };
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
      if (!committing) {
        await client.query('ROLLBACK').catch(() => {});
        if (err instanceof ChangeKeyReusedError) throw err;
        throw new NothingChangedError(failure.message, { cause: err });
      }
      // COMMIT was sent: it may have been carried out. Its own row says.
      const learned = await this.learnOutcome(key);
      if (learned === 'unknown') throw new ChangeOutcomeUnknownError(failure.message, { cause: err });
      if (!learned) throw new NothingChangedError(failure.message, { cause: err });
      return { outcome: 'committed', changes: learned.changes, status: learned.status, round: learned.answer, state: await this.state().catch(() => null) };
    } finally {
      // A failed change may leave the connection in any state: never reuse it.
      client.release(failure);
    }
  }

  private async apply(client: pg.PoolClient, change: HostChange, seq: number): Promise<void> {
    if (change.kind === 'new-round') {
      await client.query(
        `UPDATE rounds SET voting = 'closed', closed_at = coalesce(closed_at, now())
          WHERE round = (SELECT max(round) FROM rounds)`,
      );
      const voting = change.start.voting ?? 'open';
      await client.query(
        `INSERT INTO rounds (round, changed_seq, changed_at, change_tally_seq, voting, results, closed_at)
         SELECT max(round) + 1, $1::bigint, now(), $1::bigint + ${SHARD_SEQS}, $2, $3, CASE WHEN $2 = 'closed' THEN now() END FROM rounds`,
        [seq, voting, change.start.results ?? 'shown'],
      );
      return;
    }
    await client.query(
      `UPDATE rounds
          SET voting = coalesce($1, voting),
              results = coalesce($2, results),
              closed_at = CASE WHEN coalesce($1, voting) = 'open' THEN NULL ELSE coalesce(closed_at, now()) END,
              changed_seq = $3::bigint,
              changed_at = now(),
              change_tally_seq = $3::bigint + ${SHARD_SEQS}
        WHERE round = (SELECT max(round) FROM rounds)`,
      [change.patch.voting ?? null, change.patch.results ?? null, seq],
    );
  }

  private async answerFor(db: pg.Pool | pg.PoolClient, key: string): Promise<StoredAnswer | undefined> {
    const { rows } = await db.query<StoredAnswer>('SELECT request, status, answer, changes FROM host_changes WHERE key = $1', [key]);
    return rows[0];
  }

  private async replay(prior: StoredAnswer, request: string): Promise<ChangeOutcome> {
    if (prior.request !== request) throw new ChangeKeyReusedError('this Idempotency-Key was already used for a different host change');
    return { outcome: 'replayed', changes: [], status: prior.status, round: prior.answer, state: await this.state() };
  }

  /**
   * Whether the change with this key committed, once its transaction has surely ended: taking the
   * round-change lock (shared) waits for a COMMIT still on its way, and the key's row exists
   * exactly when it committed. `unknown` when that cannot be learned within `outcomeWaitMs`.
   */
  private async learnOutcome(key: string): Promise<StoredAnswer | null | 'unknown'> {
    const deadline = performance.now() + this.outcomeWaitMs;
    for (let attempt = 0; ; attempt++) {
      const left = Math.floor(deadline - performance.now());
      if (left <= 0) return 'unknown';
      const client = await this.checkout().catch(() => undefined);
      if (client) {
        let failure: Error | undefined;
        try {
          await client.query('BEGIN READ ONLY');
          await client.query(`SELECT set_config('statement_timeout', $1, true)`, [String(Math.max(1, left))]);
          await client.query({ text: 'SELECT pg_advisory_xact_lock_shared($1)', values: [ROUND_CHANGE_LOCK], query_timeout: left + 500 } as pg.QueryConfig);
          const found = await this.answerFor(client, key);
          await client.query('COMMIT');
          return found ?? null;
        } catch (err) {
          failure = err instanceof Error ? err : new Error(String(err));
        } finally {
          client.release(failure);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 500)));
    }
  }
}
