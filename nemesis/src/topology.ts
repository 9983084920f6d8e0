/**
 * The stack under test, all real processes: Redis in the chosen mode, a private PostgreSQL, two
 * servers and two consumers (each reading every shard), and a Toxiproxy proxy on every link from
 * a service to a store, so that each link can be slowed, reset or cut on its own.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CONSUMER_ENTRY, freePort, redisAclLines, RedisServer, SERVER_ENTRY, ServiceProcess } from '@livevote/launcher';
import { pollUntil, startRedisCluster, startSentinelSet, type RedisCluster, type SentinelSet } from '@livevote/harness';
import type { RedisTarget } from '@livevote/service-kit';
import { startPostgresNode, type PostgresNode } from './postgres-node.ts';
import { Toxiproxy } from './toxiproxy.ts';

export type RedisMode = 'sentinel' | 'cluster' | 'single';
export const REDIS_PREFIX = 'nemesis:';

const PASSWORDS = { pgAdmin: 'nemesis-pg-admin-0123', pgServer: 'nemesis-pg-server-0123', pgConsumer: 'nemesis-pg-consumer-0123' };
export const REDIS_CREDS = { redisAdmin: 'nemesis-redis-admin-0123', redisServer: 'nemesis-redis-server-0123', redisConsumer: 'nemesis-redis-consumer-0123' };
export const REDIS_ADMIN = { username: 'admin', password: REDIS_CREDS.redisAdmin };

export interface Service {
  name: string;
  kind: 'server' | 'consumer';
  proc: ServiceProcess;
  /** The public URL (servers). */
  url: string;
}

/** A Redis process the nemesis may kill or pause, with the role it has now. */
export interface RedisNodeRef {
  port: number;
  kind: 'data' | 'sentinel';
}

/** What the nemesis can do to Redis, whatever the mode. */
export interface RedisStore {
  mode: RedisMode;
  /** Data nodes and their roles now. */
  roles(): Promise<{ port: number; role: 'primary' | 'replica' }[]>;
  sentinels(): number[];
  kill(node: RedisNodeRef): Promise<void>;
  start(node: RedisNodeRef): Promise<void>;
  pause(node: RedisNodeRef): Promise<void>;
  resume(node: RedisNodeRef): Promise<void>;
  /** Every node up, replicas linked, (Sentinel) every sentinel agreeing, (Cluster) every slot served. */
  waitHealthy(timeoutMs: number): Promise<void>;
  /** How an operator's client reaches it, as admin and without proxies (the run's own checks). */
  target: RedisTarget;
  pids(): number[];
  stop(): Promise<void>;
}

export interface Link {
  /** The proxy's name: `${service}->${store}`. */
  name: string;
  service: string;
  store: string;
}

export interface Topology {
  mode: RedisMode;
  shards: number;
  dir: string;
  toxiproxy: Toxiproxy;
  pg: PostgresNode;
  redis: RedisStore;
  servers: Service[];
  consumers: Service[];
  links: Link[];
  hostToken: string;
  stop(): Promise<void>;
}

async function sentinelStore(acl: string): Promise<{ store: RedisStore; endpoints: Map<string, { host: string; port: number }>; set: SentinelSet }> {
  const set = await startSentinelSet({ replicas: 2, quorum: 2, downAfterMs: 1000, failoverTimeoutMs: 3000, acl, auth: REDIS_ADMIN });
  const endpoints = new Map(set.nodes.map((n) => [`${n.kind === 'data' ? 'redis' : 'sentinel'}-${n.port}`, { host: n.host, port: n.port }]));
  const store: RedisStore = {
    mode: 'sentinel',
    async roles() {
      const primary = (await set.primary()).port;
      return set.nodes.filter((n) => n.kind === 'data').map((n) => ({ port: n.port, role: n.port === primary ? 'primary' : 'replica' }));
    },
    sentinels: () => set.nodes.filter((n) => n.kind === 'sentinel').map((n) => n.port),
    kill: (n) => set.kill(n.port, 'SIGKILL'),
    start: async (n) => void (await set.start(n.port)),
    pause: (n) => set.signal(n.port, 'SIGSTOP'),
    resume: (n) => set.signal(n.port, 'SIGCONT'),
    waitHealthy: async (ms) => void (await set.waitHealthy(ms)),
    target: { mode: 'sentinel', sentinels: set.sentinelNodes, name: set.name, ...REDIS_ADMIN },
    pids: () => set.pids(),
    stop: () => set.stopAll(),
  };
  return { store, endpoints, set };
}

async function clusterStore(acl: string): Promise<{ store: RedisStore; endpoints: Map<string, { host: string; port: number }>; cluster: RedisCluster }> {
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, acl, auth: REDIS_ADMIN });
  const endpoints = new Map(cluster.nodes.map((n) => [`redis-${n.port}`, { host: n.host, port: n.port }]));
  const signal = (port: number, sig: NodeJS.Signals) => cluster.kill(port, sig);
  const store: RedisStore = {
    mode: 'cluster',
    async roles() {
      const masters = new Set((await cluster.masters()).map((m) => m.port));
      return cluster.nodes.map((n) => ({ port: n.port, role: masters.has(n.port) ? 'primary' : 'replica' }));
    },
    sentinels: () => [],
    kill: (n) => signal(n.port, 'SIGKILL'),
    start: async (n) => void (await cluster.start(n.port)),
    pause: (n) => signal(n.port, 'SIGSTOP'),
    resume: (n) => signal(n.port, 'SIGCONT'),
    waitHealthy: (ms) => cluster.waitHealthy(ms),
    target: { mode: 'cluster', nodes: cluster.seedNodes, ...REDIS_ADMIN },
    pids: () => cluster.pids(),
    stop: () => cluster.stopAll(),
  };
  return { store, endpoints, cluster };
}

async function singleStore(dir: string, acl: string): Promise<{ store: RedisStore; endpoints: Map<string, { host: string; port: number }> }> {
  const redisDir = path.join(dir, 'redis');
  mkdirSync(redisDir, { recursive: true });
  const port = await freePort();
  const aclFile = path.join(redisDir, 'users.acl');
  writeFileSync(aclFile, acl);
  const server = new RedisServer({ dir: redisDir, port, appendfsync: 'always', extraArgs: ['--aclfile', aclFile] });
  await server.start();
  const store: RedisStore = {
    mode: 'single',
    roles: async () => [{ port, role: 'primary' }],
    sentinels: () => [],
    kill: () => server.kill('SIGKILL'),
    start: () => server.start(),
    pause: () => server.kill('SIGSTOP'),
    resume: () => server.kill('SIGCONT'),
    waitHealthy: (ms) =>
      pollUntil('Redis back', ms, async () => {
        if (!server.reachable) throw new Error(`redis-server ${port} not running`);
      }),
    target: { mode: 'standalone', url: `redis://admin:${REDIS_CREDS.redisAdmin}@127.0.0.1:${port}` },
    pids: () => server.pids,
    stop: () => server.stop(),
  };
  return { store, endpoints: new Map([[`redis-${port}`, { host: '127.0.0.1', port }]]) };
}

function redisUser(user: 'admin' | 'server' | 'consumer') {
  const password = { admin: REDIS_CREDS.redisAdmin, server: REDIS_CREDS.redisServer, consumer: REDIS_CREDS.redisConsumer }[user];
  return { REDIS_USERNAME: user, REDIS_PASSWORD: password };
}

export interface TopologyOptions {
  mode: RedisMode;
  dir: string;
  /** Where each service's whole output goes, as `<name>.log`. */
  logDir: string;
  /** Extra environment for the consumers (the broken-build test's fault hook). */
  consumerEnv?: Record<string, string>;
  log: (line: string) => void;
}

export async function startTopology(o: TopologyOptions): Promise<Topology> {
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    while (cleanups.length) await cleanups.pop()!().catch(() => {});
  };
  try {
    mkdirSync(o.dir, { recursive: true });
    const toxiproxy = new Toxiproxy();
    await toxiproxy.start();
    cleanups.push(() => toxiproxy.stop());
    o.log('toxiproxy started');

    const pg = await startPostgresNode(path.join(o.dir, 'postgres'), { admin: PASSWORDS.pgAdmin, server: PASSWORDS.pgServer, consumer: PASSWORDS.pgConsumer });
    cleanups.push(async () => {
      pg.resume();
      await pg.stop();
    });
    o.log(`PostgreSQL on 127.0.0.1:${pg.port}`);

    const acl = `${redisAclLines(REDIS_PREFIX, REDIS_CREDS).join('\n')}\n`;
    const { store: redis, endpoints } = o.mode === 'sentinel' ? await sentinelStore(acl) : o.mode === 'cluster' ? await clusterStore(acl) : await singleStore(o.dir, acl);
    cleanups.push(() => redis.stop());
    o.log(`Redis (${o.mode}): ${[...endpoints.keys()].join(', ')}`);

    const shards = o.mode === 'cluster' ? 3 : 2;
    const replicasPerPrimary = o.mode === 'sentinel' ? 2 : o.mode === 'cluster' ? 1 : 0;
    const hostToken = randomBytes(18).toString('base64url');
    const links: Link[] = [];
    // One proxy per (service, store) pair: the service reaches every store only through its own.
    const proxiesFor = async (service: string) => {
      const pgProxy = await toxiproxy.proxy(`${service}->postgres`, { host: '127.0.0.1', port: pg.port });
      links.push({ name: pgProxy.name, service, store: 'postgres' });
      const nat: string[] = [];
      const byStore = new Map<string, { host: string; port: number }>();
      for (const [name, ep] of endpoints) {
        const p = await toxiproxy.proxy(`${service}->${name}`, ep);
        links.push({ name: p.name, service, store: name });
        byStore.set(name, p.listen);
        nat.push(`${ep.host}:${ep.port}=${p.listen.host}:${p.listen.port}`);
      }
      const at = (names: string[]) => names.map((n) => `${byStore.get(n)!.host}:${byStore.get(n)!.port}`).join(',');
      const names = [...endpoints.keys()];
      const redisEnv: Record<string, string> =
        o.mode === 'single'
          ? { REDIS_URL: `redis://${service.startsWith('server') ? 'server' : 'consumer'}:${service.startsWith('server') ? REDIS_CREDS.redisServer : REDIS_CREDS.redisConsumer}@${at(names)}` }
          : {
              ...(o.mode === 'sentinel'
                ? { REDIS_SENTINELS: at(names.filter((n) => n.startsWith('sentinel-'))), REDIS_SENTINEL_NAME: (redis.target as { name: string }).name }
                : { REDIS_CLUSTER_NODES: at(names) }),
              REDIS_NAT_MAP: nat.join(','),
              ...redisUser(service.startsWith('server') ? 'server' : 'consumer'),
            };
      return { pgProxy: pgProxy.listen, redisEnv };
    };
    const common = { REDIS_PREFIX, STREAM_SHARDS: String(shards), RATE_LIMIT: 'off', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };
    const dbUrl = (user: string, password: string, at: { host: string; port: number }) => `postgres://${user}:${password}@${at.host}:${at.port}/livevote`;

    // Each service starts as soon as its ports are chosen: a port left unbound while others start
    // can be taken as the local port of an outgoing connection (EADDRINUSE, seen in CI).
    const start = async (s: Service) => {
      await s.proc.start();
      cleanups.push(async () => {
        s.proc.resume();
        await s.proc.stop();
      });
    };
    const servers: Service[] = [];
    for (const name of ['server-1', 'server-2']) {
      const { pgProxy, redisEnv } = await proxiesFor(name);
      const port = await freePort();
      const proc = new ServiceProcess({
        name,
        entry: SERVER_ENTRY,
        env: {
          ...common,
          ...redisEnv,
          DATABASE_URL: dbUrl('livevote_server', PASSWORDS.pgServer, pgProxy),
          PORT: String(port),
          OPS_PORT: String(await freePort()),
          OPS_HOST: '127.0.0.1',
          HOST_TOKEN: hostToken,
          // A vote is acknowledged once every replica has it. With fewer, a primary frozen through
          // a failover and then resumed takes votes that a not-yet-repointed replica acknowledges,
          // and both drop them when Sentinel demotes it (docs/reliability.md, known limits).
          REDIS_ACK_REPLICAS: String(replicasPerPrimary),
          REDIS_ACK_TIMEOUT_MS: '800',
          VOTE_OUTCOME_WAIT_MS: '1800',
        },
        readyUrl: `http://127.0.0.1:${port}/readyz`,
        readyTimeoutMs: 60_000,
        logFile: path.join(o.logDir, `${name}.log`),
      });
      servers.push({ name, kind: 'server', proc, url: `http://127.0.0.1:${port}` });
      await start(servers.at(-1)!);
    }
    const consumers: Service[] = [];
    for (const name of ['consumer-1', 'consumer-2']) {
      const { pgProxy, redisEnv } = await proxiesFor(name);
      const port = await freePort();
      const proc = new ServiceProcess({
        name,
        entry: CONSUMER_ENTRY,
        env: {
          ...common,
          ...redisEnv,
          DATABASE_URL: dbUrl('livevote_consumer', PASSWORDS.pgConsumer, pgProxy),
          PORT: String(port),
          CONSUMER_NAME: name,
          CLAIM_IDLE_MS: '2000',
          CLAIM_EVERY_MS: '500',
          ...o.consumerEnv,
        },
        readyUrl: `http://127.0.0.1:${port}/readyz`,
        readyTimeoutMs: 60_000,
        logFile: path.join(o.logDir, `${name}.log`),
      });
      consumers.push({ name, kind: 'consumer', proc, url: `http://127.0.0.1:${port}` });
      await start(consumers.at(-1)!);
    }
    o.log(`services up: ${[...servers, ...consumers].map((s) => s.name).join(', ')}; ${links.length} links through toxiproxy`);
    return {
      mode: o.mode,
      shards,
      dir: o.dir,
      toxiproxy,
      pg,
      redis,
      servers,
      consumers,
      links,
      hostToken,
      async stop() {
        await stopAll();
        rmSync(path.join(o.dir, 'postgres'), { recursive: true, force: true });
        rmSync(path.join(o.dir, 'redis'), { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
