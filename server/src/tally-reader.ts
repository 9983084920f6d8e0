import type pg from 'pg';
import type { Results } from '@livevote/contract';

/** Read side of the tallies (the consumer owns the writes): current totals and per-vote status. */
export class TallyReader {
  private readonly pool: pg.Pool;
  private readonly cacheMs: number;
  private cached: { at: number; value: Results } | null = null;
  private inflight: Promise<Results> | null = null;

  constructor(pool: pg.Pool, cacheMs: number) {
    this.pool = pool;
    this.cacheMs = cacheMs;
  }

  /** Cached for `cacheMs`; concurrent callers share one query. */
  async current(): Promise<Results> {
    if (this.cached && Date.now() - this.cached.at < this.cacheMs) return this.cached.value;
    return this.fresh();
  }

  /** Always asks PostgreSQL (shared by concurrent callers). */
  fresh(): Promise<Results> {
    this.inflight ??= this.pool
      .query<{ cats: string; dogs: string; seq: string; updated_at: Date }>('SELECT cats, dogs, seq, updated_at FROM tallies WHERE id')
      .then(({ rows }) => {
        const row = rows[0];
        if (!row) throw new Error('tallies row is missing: run the migrations');
        const cats = Number(row.cats);
        const dogs = Number(row.dogs);
        const value: Results = { cats, dogs, total: cats + dogs, seq: Number(row.seq), updatedAt: row.updated_at.toISOString() };
        this.cached = { at: Date.now(), value };
        return value;
      })
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  /** The tally seq that first counted this vote, or null while it is not counted (yet). */
  async countedIn(voteId: string): Promise<number | null> {
    const { rows } = await this.pool.query<{ seq: string }>('SELECT seq FROM applied_votes WHERE vid = $1', [voteId]);
    return rows[0] ? Number(rows[0].seq) : null;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }
}
