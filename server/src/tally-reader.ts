import type pg from 'pg';
import type { RoundTally } from '@livevote/contract';
import { publiclyDifferent } from './results-view.ts';

export type CurrentRoundRow = {
  round: number;
  voting: RoundTally['voting'];
  results: RoundTally['results'];
  cats: string;
  dogs: string;
  seq: string;
  updated_at: Date;
  change_tally_seq: string;
  changed_at: Date;
};

/** The `current_round` columns every reader takes. */
export const CURRENT_ROUND_COLUMNS = 'round, voting, results, cats, dogs, seq, updated_at, changed_seq, change_tally_seq, changed_at';

/** A row of the `current_round` view as served. */
export function roundTally(row: CurrentRoundRow): RoundTally {
  const cats = Number(row.cats);
  const dogs = Number(row.dogs);
  return {
    round: row.round,
    voting: row.voting,
    results: row.results,
    cats,
    dogs,
    total: cats + dogs,
    seq: Number(row.seq),
    updatedAt: row.updated_at.toISOString(),
    changedSeq: Number(row.change_tally_seq),
    changedAt: row.changed_at.toISOString(),
  };
}

/** A tally answer: fresh from PostgreSQL, or (PostgreSQL away) the last known one and how old it is. */
export interface TallyRead {
  value: RoundTally;
  stale: boolean;
  /** Whole seconds since this value was last known to be current (0 when fresh). */
  ageSeconds: number;
}

export interface TallyReaderOptions {
  /** `/api/results` answers from memory for this long. */
  cacheMs: number;
  /** With a last known tally, a read waits at most this for PostgreSQL before serving it stale. */
  staleAfterMs?: number;
  /** After a failed read, serve the last known tally without asking PostgreSQL for this long. */
  retryAfterFailureMs?: number;
  /**
   * Where vote status is read (a read replica may serve it): a replica behind says "not counted
   * yet" a little longer, and the browser asks again on the next frame.
   */
  statusPool?: pg.Pool;
}

/**
 * Read side of the tallies (the consumer owns the writes): current totals and per-vote status.
 * It remembers the newest tally it has seen, from PostgreSQL or from the tally channel
 * (`observe`), so that while PostgreSQL is away results degrade to that tally with its age
 * instead of failing: voting does not depend on PostgreSQL, and neither should the last picture.
 */
export class TallyReader {
  private readonly pool: pg.Pool;
  private readonly statusPool: pg.Pool;
  private readonly cacheMs: number;
  private readonly staleAfterMs: number;
  private readonly retryAfterFailureMs: number;
  private cached: { at: number; value: RoundTally } | null = null;
  /** The newest tally seen and when it was last known current; kept however old. */
  private known: { at: number; value: RoundTally } | null = null;
  private failedAt = -Infinity;
  private inflight: Promise<RoundTally> | null = null;

  constructor(pool: pg.Pool, options: number | TallyReaderOptions) {
    const o = typeof options === 'number' ? { cacheMs: options } : options;
    this.pool = pool;
    this.statusPool = o.statusPool ?? pool;
    this.cacheMs = o.cacheMs;
    this.staleAfterMs = o.staleAfterMs ?? 1000;
    this.retryAfterFailureMs = o.retryAfterFailureMs ?? 1000;
  }

  /** Cached for `cacheMs`; concurrent callers share one query. */
  async current(): Promise<RoundTally> {
    if (this.cached && Date.now() - this.cached.at < this.cacheMs) return this.cached.value;
    return this.fresh();
  }

  /**
   * `current()`, or — when PostgreSQL fails, is slower than `staleAfterMs`, or failed within
   * `retryAfterFailureMs` — the last known tally marked stale. Throws only when none is known.
   */
  async read(): Promise<TallyRead> {
    const known = this.known;
    if (known && Date.now() - this.failedAt < this.retryAfterFailureMs) return this.stale(known);
    const attempt = this.current();
    if (!known) return { value: await attempt, stale: false, ageSeconds: 0 };
    attempt.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<null>((resolve) => (timer = setTimeout(resolve, this.staleAfterMs, null)));
    try {
      const value = await Promise.race([attempt, slow]);
      return value ? { value, stale: false, ageSeconds: 0 } : this.stale(this.known ?? known);
    } catch {
      return this.stale(this.known ?? known);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A tally from the tally channel (committed by the consumer): newer than the last read, it is the one to serve. */
  observe(t: RoundTally): void {
    const value: RoundTally = {
      round: t.round,
      voting: t.voting,
      results: t.results,
      cats: t.cats,
      dogs: t.dogs,
      total: t.total,
      seq: t.seq,
      updatedAt: t.updatedAt,
      ...(t.changedSeq !== undefined ? { changedSeq: t.changedSeq } : {}),
      ...(t.changedAt !== undefined ? { changedAt: t.changedAt } : {}),
    };
    // While hidden, a tally that only counted votes is no news: if it made the answer fresher
    // (stale to fresh, its age back to 0 while PostgreSQL is away or slow), the answers' timing
    // would count the batches. It is kept, but as old as the last public change.
    const news = !this.known || publiclyDifferent(this.known.value, value);
    const at = news ? Date.now() : undefined;
    this.remember(value, at);
    if (!this.cached || value.seq > this.cached.value.seq) this.cached = { at: at ?? this.cached?.at ?? this.known!.at, value };
  }

  /** Always asks PostgreSQL (shared by concurrent callers). */
  fresh(): Promise<RoundTally> {
    this.inflight ??= this.pool
      .query<CurrentRoundRow>(`SELECT ${CURRENT_ROUND_COLUMNS} FROM current_round`)
      .then(({ rows }) => {
        const row = rows[0];
        if (!row) throw new Error('no current round: run the migrations');
        const value = roundTally(row);
        this.cached = { at: Date.now(), value };
        this.failedAt = -Infinity;
        this.remember(value, Date.now());
        return value;
      })
      .catch((err: unknown) => {
        this.failedAt = Date.now();
        throw err;
      })
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  /**
   * The tally seq that first counted this vote, its round and whether that round's results are
   * shown, or null while it is not counted (yet). One snapshot for all three: on a replica too,
   * a vote that is visible comes with every host change committed before it, so a hide is
   * never missed for a vote it covers (a cached round state could be older than the vote).
   * `primary`: ask DATABASE_URL, not a read replica that may lag.
   */
  async countedIn(voteId: string, options: { primary?: boolean } = {}): Promise<{ seq: number; round: number; shown: boolean } | null> {
    const { rows } = await (options.primary ? this.pool : this.statusPool).query<{ seq: string; round: number; results: RoundTally['results'] }>(
      'SELECT a.seq, a.round, r.results FROM applied_votes a JOIN rounds r USING (round) WHERE a.vid = $1',
      [voteId],
    );
    const row = rows[0];
    return row ? { seq: Number(row.seq), round: row.round, shown: row.results === 'shown' } : null;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** `at`: when it was known current; left out, it keeps the time of the value it replaces. */
  private remember(value: RoundTally, at?: number): void {
    if (!this.known || value.seq >= this.known.value.seq) this.known = { at: at ?? this.known?.at ?? Date.now(), value };
  }

  private stale(known: { at: number; value: RoundTally }): TallyRead {
    return { value: known.value, stale: true, ageSeconds: Math.max(0, Math.floor((Date.now() - known.at) / 1000)) };
  }
}
