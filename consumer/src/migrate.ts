/**
 * The project's migration command (`npm run migrate`, the Helm hook Job, `npm start`).
 * Runs every pending file in ../migrations with node-pg-migrate under its advisory lock,
 * so two replicas starting together cannot apply a migration twice.
 */
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

export async function migrate(databaseUrl: string, log: (msg: string) => void = () => {}): Promise<string[]> {
  const done = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    checkOrder: true,
    singleTransaction: true,
    log,
  });
  return done.map((m) => m.name);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('migrate: DATABASE_URL is not set (e.g. postgres://user@127.0.0.1:5432/livevote)');
    process.exit(2);
  }
  try {
    const applied = await migrate(url);
    console.log(applied.length ? `migrate: applied ${applied.join(', ')}` : 'migrate: nothing to apply');
  } catch (err) {
    console.error(`migrate: failed: ${(err as Error).message}`);
    process.exit(1);
  }
}
