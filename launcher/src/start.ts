/**
 * `npm start`: the whole stack on one port with no configuration. Where DATABASE_URL is unset it
 * runs an embedded PostgreSQL, where REDIS_URL is unset a private redis-server (AOF, fsync on
 * every write), both keeping their data under .data/ so votes survive a restart. Then it runs
 * the migrations, the server (serving the client too) and the consumer. Ctrl-C stops all of it.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import pg from 'pg';
import { DEFAULT_OPS_PORT, DEFAULT_REDIS_PREFIX } from '@livevote/contract';
import { migrate } from '@livevote/consumer/migrate';
import { startEmbeddedPostgres } from './embedded-postgres.ts';
import { freePort } from './free-port.ts';
import { RedisServer, redisServerAvailable } from './redis-server.ts';
import { startStack, type Stack } from './stack.ts';
import { provisionPostgresRoles, redisAclLines, type Credentials } from './least-privilege.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
// LIVEVOTE_DATA_DIR moves .data elsewhere (tests use a temporary one).
const dataDir = path.resolve(process.env.LIVEVOTE_DATA_DIR ?? path.join(root, '.data'));
const log = (line: string) => console.log(`[start] ${line}`);
const cleanups: (() => Promise<void>)[] = [];

async function main(): Promise<void> {
  const port = portFromEnv('PORT', 3000);
  // The server's own default, so the metrics are where its docs say; 0 picks a free port.
  const opsPort = portFromEnv('OPS_PORT', DEFAULT_OPS_PORT);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const creds = loadCredentials();

  let redisUrls: { server: string; consumer: string };
  if (process.env.REDIS_URL) {
    redisUrls = { server: process.env.REDIS_URL, consumer: process.env.REDIS_URL };
  } else {
    if (!redisServerAvailable()) {
      throw new Error('redis-server is not on PATH: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL');
    }
    const prefix = process.env.REDIS_PREFIX ?? DEFAULT_REDIS_PREFIX;
    const aclFile = path.join(dataDir, 'redis-users.acl');
    writeFileSync(aclFile, redisAclLines(prefix, creds).join('\n') + '\n', { mode: 0o600 });
    const redis = new RedisServer({ dir: path.join(dataDir, 'redis'), port: await freePort(), appendfsync: 'always', extraArgs: ['--aclfile', aclFile] });
    await redis.start();
    cleanups.push(() => redis.stop());
    const at = (user: string, pass: string) => `redis://${user}:${pass}@127.0.0.1:${redis.options.port}/0`;
    redisUrls = { server: at('server', creds.redisServer), consumer: at('consumer', creds.redisConsumer) };
    log(`private redis-server on 127.0.0.1:${redis.options.port} (AOF, appendfsync always, data in .data/redis)`);
  }

  let dbUrls: { migrate: string; server: string; consumer: string };
  if (process.env.DATABASE_URL) {
    const u = process.env.DATABASE_URL;
    dbUrls = { migrate: u, server: u, consumer: u };
  } else {
    const pgPort = await freePort();
    const embedded = await startEmbeddedPostgres({ dir: path.join(dataDir, 'postgres'), port: pgPort, password: creds.pgAdmin, log });
    cleanups.push(() => embedded.stop());
    // embedded-postgres hooks SIGINT/SIGTERM to stop PostgreSQL and exit(130) by itself, racing
    // our own shutdown; this script owns the order (services, then Redis, then PostgreSQL).
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.removeAllListeners(sig);
      process.on(sig, () => void stop(0));
    }
    await ensureDatabase(embedded.url('postgres'), 'livevote');
    await provisionPostgresRoles(embedded.url('livevote'), creds);
    const at = (user: string, pass: string) => `postgres://${user}:${encodeURIComponent(pass)}@127.0.0.1:${pgPort}/livevote`;
    dbUrls = { migrate: embedded.url('livevote'), server: at('livevote_server', creds.pgServer), consumer: at('livevote_consumer', creds.pgConsumer) };
    log(`embedded PostgreSQL on 127.0.0.1:${pgPort} (data in .data/postgres)`);
  }

  const applied = await migrate(dbUrls.migrate);
  log(applied.length ? `migrations applied: ${applied.join(', ')}` : 'migrations up to date');

  const clientDir = ensureClientBuild();
  const stack: Stack = await startStack({
    databaseUrl: dbUrls.server,
    redisUrl: redisUrls.server,
    redisPrefix: process.env.REDIS_PREFIX ?? DEFAULT_REDIS_PREFIX,
    port,
    opsPort,
    ...(clientDir ? { clientDir } : {}),
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
    // Every core: one server process each (node:cluster), unless WEB_CONCURRENCY says otherwise.
    serverEnv: { WEB_CONCURRENCY: process.env.WEB_CONCURRENCY ?? 'auto' },
    consumerEnv: { DATABASE_URL: dbUrls.consumer, REDIS_URL: redisUrls.consumer },
    // A HOST_TOKEN of your own wins; the server refuses one shorter than 16 characters.
    hostToken: process.env.HOST_TOKEN ?? creds.hostToken,
    inheritOutput: true,
  });
  cleanups.unshift(() => stack.stop());
  log(`live vote is up: ${stack.url}/  (presenter screen: ${stack.url}/present, API: ${stack.url}/api/results)`);
  // The token rides in the fragment, which browsers never send; /host trades it for a cookie.
  log(`host controls: ${stack.url}/host#token=${encodeURIComponent(stack.hostToken)}`);
  log(`metrics (this machine only): ${stack.opsUrl}/metrics`);
  log('press Ctrl-C to stop');
  void Promise.race([stack.server.waitExit(), ...stack.consumers.map((c) => c.waitExit())]).then(() => {
    if (!stopping) {
      log('a service exited unexpectedly; stopping everything');
      void stop(1);
    }
  });
}

function portFromEnv(name: string, def: number): number {
  const port = Number(process.env[name] ?? def);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${name} must be a port number, got "${process.env[name]}"`);
  return port;
}

/** Passwords for the per-service roles, generated once and kept in .data (never committed). */
function loadCredentials(): Credentials {
  const file = path.join(dataDir, 'credentials.json');
  const gen = () => randomBytes(18).toString('base64url');
  if (existsSync(file)) {
    const creds = JSON.parse(readFileSync(file, 'utf8')) as Partial<Credentials>;
    // A file from before host controls gains the host token; everything else is kept.
    if (creds.hostToken) return creds as Credentials;
    const upgraded = { ...creds, hostToken: gen() } as Credentials;
    writeFileSync(file, JSON.stringify(upgraded, null, 2), { mode: 0o600 });
    return upgraded;
  }
  const creds: Credentials = { pgAdmin: gen(), pgServer: gen(), pgConsumer: gen(), redisAdmin: gen(), redisServer: gen(), redisConsumer: gen(), hostToken: gen() };
  writeFileSync(file, JSON.stringify(creds, null, 2), { mode: 0o600 });
  return creds;
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
}

/** Builds the client once if its build is missing; returns its directory, or null without one. */
function ensureClientBuild(): string | null {
  // CLIENT_DIR= (empty) serves the API alone; a path serves that build.
  if (process.env.CLIENT_DIR !== undefined) return process.env.CLIENT_DIR || null;
  const dir = path.join(root, 'client', 'build');
  if (existsSync(path.join(dir, 'handler.js'))) return dir;
  const pkg = JSON.parse(readFileSync(path.join(root, 'client', 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  if (!pkg.scripts?.build || !readdirSync(path.join(root, 'client')).includes('src')) {
    log('client not built and not buildable yet: serving the API only');
    return null;
  }
  log('building the client (first start only; `npm run build` rebuilds it)');
  const r = spawnSync('npm', ['run', 'build', '-w', 'client'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('client build failed');
  return dir;
}

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('stopping');
  for (const c of cleanups) await c().catch((err) => log(`cleanup: ${(err as Error).message}`));
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

main().catch(async (err) => {
  console.error(`[start] cannot start: ${(err as Error).message}`);
  await stop(1);
});
