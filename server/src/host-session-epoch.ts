import type pg from 'pg';

/** What the epoch needs of a pool: `pg.Pool` fits. */
export interface EpochQueries {
  query<R extends pg.QueryResultRow>(text: string): Promise<pg.QueryResult<R>>;
}

/**
 * Owns `host_session_epoch`: the epoch every host session cookie must carry. `current()` is
 * cached for `cacheMs`, so a revocation on one server takes effect on every other within that
 * long; a read that fails while the cache is older rejects, and the session is refused (503).
 *
 * The bound holds however slow PostgreSQL is: a cached epoch counts from when its read was
 * sent (its answer can be no older), an answer that took `cacheMs` or more is refused rather
 * than believed, and the epoch never goes back (a read that raced this server's own revocation
 * cannot restore the old one).
 */
export class HostSessionEpoch {
  private readonly pool: EpochQueries;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private cached: { at: number; epoch: number } | null = null;
  private inflight: Promise<number> | null = null;

  constructor(pool: EpochQueries, cacheMs = 1000, now: () => number = () => performance.now()) {
    this.pool = pool;
    this.cacheMs = cacheMs;
    this.now = now;
  }

  current(): Promise<number> {
    const now = this.now();
    if (this.cached && now - this.cached.at < this.cacheMs) return Promise.resolve(this.cached.epoch);
    this.inflight ??= this.read(now).finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** Ends every host session issued so far; returns the new epoch. */
  async revoke(): Promise<number> {
    const sentAt = this.now();
    const { rows } = await this.pool.query<{ epoch: number }>('UPDATE host_session_epoch SET epoch = epoch + 1, changed_at = now() WHERE id RETURNING epoch');
    return this.remember(rows, sentAt);
  }

  private async read(sentAt: number): Promise<number> {
    const { rows } = await this.pool.query<{ epoch: number }>('SELECT epoch FROM host_session_epoch WHERE id');
    const epoch = this.remember(rows, sentAt);
    if (this.now() - sentAt >= this.cacheMs) throw new Error(`the host session epoch took too long to read (over ${this.cacheMs} ms)`);
    return epoch;
  }

  private remember(rows: { epoch: number }[], sentAt: number): number {
    const epoch = rows[0]?.epoch;
    if (epoch === undefined) throw new Error('host_session_epoch row is missing: run the migrations');
    const c = this.cached;
    if (c && (epoch < c.epoch || (epoch === c.epoch && sentAt <= c.at))) return c.epoch;
    this.cached = { at: sentAt, epoch };
    return epoch;
  }
}
