import pg from 'pg';
import type { Logger } from 'pino';

export interface PoolOptions {
  url: string;
  /** Shown in pg_stat_activity. */
  name: string;
  max: number;
  logger: Logger;
  statementTimeoutMs?: number;
}

/** The one place PostgreSQL pools are made. */
export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    application_name: opts.name,
    max: opts.max,
    connectionTimeoutMillis: 2000,
    idleTimeoutMillis: 30_000,
    statement_timeout: opts.statementTimeoutMs ?? 10_000,
  });
  // An idle client losing its connection emits here; without a listener it would crash the process.
  pool.on('error', (err) => opts.logger.warn({ err: err.message, pool: opts.name }, 'postgres idle client error'));
  return pool;
}
