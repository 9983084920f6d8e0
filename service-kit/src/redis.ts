import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisTarget } from './redis-target.ts';

/** A client of any mode: one connection (standalone, Sentinel) or a Cluster client. */
export type RedisClient = Redis | Cluster;

/**
 * The one place Redis clients are made. Roles differ in how they fail:
 * - `request`: on the HTTP request path. No offline queue and a short command timeout, so a
 *   down Redis turns into a fast 503 instead of a request that hangs until Redis returns.
 * - `worker`: the consumer's loop. Errors surface to the loop, which backs off and retries;
 *   blocking reads need a timeout longer than their BLOCK time.
 * - `subscriber`: pub/sub only; ioredis re-subscribes on reconnect.
 */
export type RedisRole = 'request' | 'worker' | 'subscriber';

export interface RedisClientOptions {
  /** Where Redis is; `url` is shorthand for a standalone target. */
  target?: RedisTarget;
  url?: string;
  role: RedisRole;
  /** Shown in CLIENT LIST, so an operator can tell the connections apart. */
  name: string;
  logger: Logger;
  /**
   * Command timeout for the `request` role, in ms. `null`: none, for a caller that bounds its
   * own wait and must still learn the outcome of a command that was written (the vote intake).
   */
  commandTimeoutMs?: number | null;
}

/** Reconnect delay: 50 ms doubling to a 2 s ceiling, with jitter so replicas do not stampede. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(2000, 50 * 2 ** Math.min(attempt, 6));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/**
 * After a failover the old primary may still accept the connection as a replica: writes then get
 * READONLY. Reconnecting (without re-sending: the caller learns the command failed, and nothing
 * was written) makes a Sentinel client ask for the new primary, a Cluster client refresh its slots.
 */
const reconnectOnReadOnly = (err: Error) => (err.message.startsWith('READONLY') ? 1 : false);

export function createRedis(opts: RedisClientOptions & { target: RedisTarget & { mode: 'cluster' } }): Cluster;
export function createRedis(opts: RedisClientOptions): RedisClient;
export function createRedis(opts: RedisClientOptions): RedisClient {
  const target: RedisTarget = opts.target ?? { mode: 'standalone', url: opts.url ?? '' };
  const common: RedisOptions = {
    connectionName: opts.name,
    // ioredis sends CLIENT SETINFO on connect: an unknown subcommand before Redis 7.2 (an error per
    // connection), and from 7.2 on (Valkey too) a command the services' ACL users are not granted,
    // which fills the ACL log with denials. CLIENT SETNAME (connectionName) names them already.
    disableClientInfo: true,
    retryStrategy: reconnectDelay,
    lazyConnect: false,
    reconnectOnError: reconnectOnReadOnly,
  };
  const byRole: Record<RedisRole, RedisOptions> = {
    request: {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      ...(opts.commandTimeoutMs === null ? {} : { commandTimeout: opts.commandTimeoutMs ?? 400 }),
      // Many concurrent XADDs share one round trip; this roughly triples ingest here.
      enableAutoPipelining: true,
      connectTimeout: 2000,
    },
    worker: {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
    },
    subscriber: {
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
      connectTimeout: 2000,
    },
  };
  const options: RedisOptions = { ...common, ...byRole[opts.role], ...(target.tls ? { tls: { ca: target.tls.ca } } : {}) };
  let client: RedisClient;
  if (target.mode === 'cluster') {
    const { enableAutoPipelining, enableOfflineQueue, ...nodeOptions } = options;
    const clusterOptions: ClusterOptions = {
      redisOptions: { ...nodeOptions, ...(target.username ? { username: target.username } : {}), ...(target.password ? { password: target.password } : {}) },
      clusterRetryStrategy: reconnectDelay,
      enableOfflineQueue: enableOfflineQueue ?? true,
      ...(enableAutoPipelining ? { enableAutoPipelining } : {}),
      // Sharded pub/sub (SSUBSCRIBE) follows the channel's slot to the node that owns it.
      ...(opts.role === 'subscriber' ? { shardedSubscribers: true } : {}),
      // A MOVED after a failover is followed at once; slots are re-read on every MOVED.
      slotsRefreshTimeout: 2000,
      ...(target.natMap ? { natMap: target.natMap } : {}),
    };
    client = new Cluster(target.nodes, clusterOptions);
  } else if (target.mode === 'sentinel') {
    client = new Redis({
      ...options,
      sentinels: target.sentinels,
      name: target.name,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
      ...(target.sentinelUsername ? { sentinelUsername: target.sentinelUsername } : {}),
      ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
      ...(target.tls ? { sentinelTLS: { ca: target.tls.ca }, enableTLSForSentinelMode: true } : {}),
      ...(target.natMap ? { natMap: target.natMap } : {}),
      sentinelRetryStrategy: reconnectDelay,
      // A Sentinel that accepts the connection but never answers (paused, partitioned) would hold
      // the lookup of the primary forever; after this the next Sentinel in the list is asked.
      sentinelCommandTimeout: 1000,
      // Follow a promoted primary: the Sentinels say which one it is; ask again after a failover.
      failoverDetector: true,
    });
  } else {
    client = new Redis(target.url, options);
  }
  if (client instanceof Redis) reconnectUnlessClosed(client);
  let down = false;
  client.on('error', (err: Error) => {
    // ioredis reconnects by itself; log once per outage, not once per retry.
    if (!down) opts.logger.warn({ err: err.message, client: opts.name }, 'redis connection error');
    down = true;
  });
  client.on('ready', () => {
    if (down) opts.logger.info({ client: opts.name }, 'redis connection restored');
    down = false;
  });
  return client;
}

/**
 * ioredis ends a connection for good (status "end", every command "Connection is closed.") when it
 * is told to reconnect while it is still connecting: what its Sentinel failover detector does on a
 * +switch-master that arrives during a reconnect, and what reconnectOnError does on a READONLY
 * then. Only the caller's disconnect() or quit() may end a client; any other end is followed by a
 * new connect, with the usual backoff.
 */
function reconnectUnlessClosed(client: Redis): void {
  let closed = false;
  let attempts = 0;
  const disconnect = client.disconnect.bind(client);
  client.disconnect = (reconnect = false) => {
    if (!reconnect) closed = true;
    disconnect(reconnect);
  };
  const quit = client.quit.bind(client);
  client.quit = ((...args: Parameters<typeof quit>) => {
    closed = true;
    return quit(...args);
  }) as typeof client.quit;
  client.on('end', () => {
    if (closed) return;
    setTimeout(() => {
      if (!closed && client.status === 'end') client.connect().catch(() => {});
    }, reconnectDelay(++attempts));
  });
  client.on('ready', () => (attempts = 0));
}

/** Blocks until the client is ready or the timeout passes; for start-up, where failing fast is right. */
export async function waitReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not reachable within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}

/**
 * ioredis re-routes a pipeline on MOVED only when every command in it failed the same way, and a
 * pipeline that ends in a keyless WAIT succeeds wherever it lands: after a Cluster failover such
 * a pipeline keeps going to the old master. Learn the new slot owner from the MOVED it got, so
 * the next one goes right.
 */
export function followMoved(client: RedisClient, results: readonly [Error | null, unknown][]): void {
  if (results.some(([err]) => err && /^(MOVED|ASK) /.test(err.message)) && 'refreshSlotsCache' in client) client.refreshSlotsCache();
}
