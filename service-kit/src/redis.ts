import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

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
  url: string;
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

export function createRedis(opts: RedisClientOptions): Redis {
  const common: RedisOptions = {
    connectionName: opts.name,
    retryStrategy: reconnectDelay,
    lazyConnect: false,
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
  const client = new Redis(opts.url, { ...common, ...byRole[opts.role] });
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

/** Blocks until the client is ready or the timeout passes; for start-up, where failing fast is right. */
export async function waitReady(client: Redis, timeoutMs: number): Promise<void> {
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
