import type pg from 'pg';

/**
 * Owns `host_session_epoch`: the epoch every host session cookie must carry. `current()` is
 * cached for `cacheMs`, so a revocation on one server takes effect on every other within that
 * long; a read that fails while the cache is older rejects, and the session is refused (503).
 */
export class HostSessionEpoch {
  private readonly pool: pg.Pool;
  private readonly cacheMs: number;
  private cached: { at: number; epoch: number } | null = null;
  private inflight: Promise<number> | null = null;

  constructor(pool: pg.Pool, cacheMs = 1000) {
    this.pool = pool;
    this.cacheMs = cacheMs;
  }

  current(): Promise<number> {
    if (this.cached && performance.now() - this.cached.at < this.cacheMs) return Promise.resolve(this.cached.epoch);
    this.inflight ??= this.pool
      .query<{ epoch: number }>('SELECT epoch FROM host_session_epoch WHERE id')
      .then(({ rows }) => {
        const epoch = rows[0]?.epoch;
        if (epoch === undefined) throw new Error('host_session_epoch row is missing: run the migrations');
        this.cached = { at: performance.now(), epoch };
        return epoch;
      })
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  /** Ends every host session issued so far; returns the new epoch. */
  async revoke(): Promise<number> {
    const { rows } = await this.pool.query<{ epoch: number }>('UPDATE host_session_epoch SET epoch = epoch + 1, changed_at = now() WHERE id RETURNING epoch');
    const epoch = rows[0]?.epoch;
    if (epoch === undefined) throw new Error('host_session_epoch row is missing: run the migrations');
    this.cached = { at: performance.now(), epoch };
    return epoch;
  }
}
