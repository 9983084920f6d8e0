/**
 * Starts the real services as child processes against given Redis and PostgreSQL URLs: the
 * local all-in-one (`npm start`) and every integration, fault and end-to-end test use this.
 */
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { migrate } from '../consumer/src/migrate.ts';
import { freePort } from './free-port.ts';
import { ServiceProcess } from './service-process.ts';

export { ServiceProcess } from './service-process.ts';
export { RedisServer, redisServerAvailable } from './redis-server.ts';
export { freePort } from './free-port.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
export const SERVER_ENTRY = `${root}server/src/main.ts`;
export const CONSUMER_ENTRY = `${root}consumer/src/main.ts`;

export interface StackOptions {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  /** Server port; 0 picks a free one (kept across restarts). */
  port?: number;
  consumers?: number;
  /** Serve the SvelteKit build from this directory on the server's port. */
  clientDir?: string;
  /** Environment for both services. */
  env?: Record<string, string>;
  serverEnv?: Record<string, string>;
  consumerEnv?: Record<string, string>;
  inheritOutput?: boolean;
}

export interface Stack {
  url: string;
  port: number;
  server: ServiceProcess;
  consumers: ServiceProcess[];
  /** Adds and starts one more consumer. */
  addConsumer(): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const port = o.port || (await freePort());
  const common = {
    REDIS_URL: o.redisUrl,
    DATABASE_URL: o.databaseUrl,
    REDIS_PREFIX: o.redisPrefix,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...o.env,
  };
  const server = new ServiceProcess({
    name: 'server',
    entry: SERVER_ENTRY,
    env: { ...common, PORT: String(port), ...(o.clientDir ? { CLIENT_DIR: o.clientDir } : {}), ...o.serverEnv },
    readyUrl: `http://127.0.0.1:${port}/readyz`,
    inheritOutput: o.inheritOutput ?? false,
  });
  const consumers: ServiceProcess[] = [];
  const addConsumer = async () => {
    const cport = await freePort();
    const c = new ServiceProcess({
      name: `consumer-${consumers.length + 1}`,
      entry: CONSUMER_ENTRY,
      env: { ...common, PORT: String(cport), CONSUMER_NAME: `c${consumers.length + 1}-${randomBytes(3).toString('hex')}`, ...o.consumerEnv },
      readyUrl: `http://127.0.0.1:${cport}/readyz`,
      inheritOutput: o.inheritOutput ?? false,
    });
    consumers.push(c);
    await c.start();
    return c;
  };
  await server.start();
  for (let i = 0; i < (o.consumers ?? 1); i++) await addConsumer();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    consumers,
    addConsumer,
    async stop() {
      await Promise.all([server.stop(), ...consumers.map((c) => c.stop())]);
    },
  };
}

export interface TestEnv {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  /** Drops the database and deletes every Redis key under the prefix. */
  cleanup(): Promise<void>;
}

/** Where tests find PostgreSQL and Redis; CI and this machine run both on their default ports. */
export const TEST_PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/1';

/** A fresh, migrated database and a unique Redis key prefix, so tests never share state. */
export async function createTestEnv(name: string, redisUrl = TEST_REDIS_URL): Promise<TestEnv> {
  const id = `${name.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const dbName = `lv_test_${id}`;
  const admin = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const url = new URL(TEST_PG_ADMIN_URL);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  await migrate(databaseUrl);
  const redisPrefix = `t_${id}:`;
  return {
    databaseUrl,
    redisUrl,
    redisPrefix,
    async cleanup() {
      const a = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await a.end();
      await deleteKeys(redisUrl, redisPrefix).catch(() => {});
    },
  };
}

async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  r.on('error', () => {});
  await r.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await r.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}
