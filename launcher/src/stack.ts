/**
 * Starts the real services as child processes against given Redis and PostgreSQL URLs: the
 * local all-in-one (`npm start`) and, through the test harness, every integration, fault and
 * end-to-end test use this.
 */
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { freePort } from './free-port.ts';
import { ServiceProcess } from './service-process.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const SERVER_ENTRY = `${root}server/src/main.ts`;
export const CONSUMER_ENTRY = `${root}consumer/src/main.ts`;

export interface StackOptions {
  databaseUrl: string;
  /** REDIS_URL; leave it out to reach Redis by `env` (REDIS_SENTINELS…, REDIS_CLUSTER_NODES…) alone. */
  redisUrl?: string;
  redisPrefix: string;
  /** Server port; 0 picks a free one (kept across restarts). */
  port?: number;
  /** The server's ops port (OPS_PORT, its /metrics), on 127.0.0.1 only; 0 picks a free one. */
  opsPort?: number;
  consumers?: number;
  /** Serve the SvelteKit build from this directory on the server's port. */
  clientDir?: string;
  /** Environment for both services. */
  env?: Record<string, string>;
  serverEnv?: Record<string, string>;
  consumerEnv?: Record<string, string>;
  inheritOutput?: boolean;
  /** The server's HOST_TOKEN; a random one when not given (see `Stack.hostToken`). */
  hostToken?: string;
}

export interface Stack {
  url: string;
  port: number;
  /** Where the server's metrics are: `${opsUrl}/metrics` (the public port answers 404 there). */
  opsUrl: string;
  opsPort: number;
  /** The HOST_TOKEN the server runs with. */
  hostToken: string;
  server: ServiceProcess;
  consumers: ServiceProcess[];
  /** Adds and starts one more consumer. */
  addConsumer(): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const port = options.port || (await freePort());
  const opsPort = options.opsPort || (await freePort());
  const hostToken = options.hostToken ?? randomBytes(18).toString('base64url');
  const common = {
    // Unset (not inherited) without a URL: two ways to reach Redis are a start-up error.
    REDIS_URL: options.redisUrl,
    DATABASE_URL: options.databaseUrl,
    REDIS_PREFIX: options.redisPrefix,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...options.env,
  };
  const server = new ServiceProcess({
    name: 'server',
    entry: SERVER_ENTRY,
    // Loopback whatever the caller's environment says: a stack on this machine shows its
    // metrics to this machine only.
    env: { ...common, PORT: String(port), OPS_PORT: String(opsPort), OPS_HOST: '127.0.0.1', HOST_TOKEN: hostToken, ...(options.clientDir ? { CLIENT_DIR: options.clientDir } : {}), ...options.serverEnv },
    readyUrl: `http://127.0.0.1:${port}/readyz`,
    inheritOutput: options.inheritOutput ?? false,
  });
  const consumers: ServiceProcess[] = [];
  const addConsumer = async () => {
    const cport = await freePort();
    const c = new ServiceProcess({
      name: `consumer-${consumers.length + 1}`,
      entry: CONSUMER_ENTRY,
      env: { ...common, PORT: String(cport), CONSUMER_NAME: `c${consumers.length + 1}-${randomBytes(3).toString('hex')}`, ...options.consumerEnv },
      readyUrl: `http://127.0.0.1:${cport}/readyz`,
      inheritOutput: options.inheritOutput ?? false,
    });
    consumers.push(c);
    await c.start();
    return c;
  };
  await server.start();
  for (let i = 0; i < (options.consumers ?? 1); i++) await addConsumer();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    opsUrl: `http://127.0.0.1:${opsPort}`,
    opsPort,
    hostToken,
    server,
    consumers,
    addConsumer,
    async stop() {
      await Promise.all([server.stop(), ...consumers.map((c) => c.stop())]);
    },
  };
}
