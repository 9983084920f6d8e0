import pg from 'pg';
import { TEST_PG_ADMIN_URL } from './test-env.ts';

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * PostgreSQL away for one test database only (the shared server keeps running for everyone
 * else): `refuse()` makes it refuse connections and ends the open ones, `allow()` lets them in.
 */
export function databaseAway(databaseUrl: string): { refuse(): Promise<void>; allow(): Promise<void> } {
  const name = new URL(databaseUrl).pathname.slice(1);
  const ident = pg.escapeIdentifier(name);
  return {
    async refuse() {
      await admin(`ALTER DATABASE ${ident} ALLOW_CONNECTIONS false`);
      await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${pg.escapeLiteral(name)} AND pid <> pg_backend_pid()`);
    },
    allow: () => admin(`ALTER DATABASE ${ident} ALLOW_CONNECTIONS true`),
  };
}
