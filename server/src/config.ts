import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { z } from 'zod';
import { DEFAULT_OPS_PORT, HOST_TOKEN_MIN_LENGTH } from '@livevote/contract';
import { ConfigError, commonEnv, intEnv, parseEnv } from '@livevote/service-kit';
import { compileTrustProxy } from './client-address.ts';

/**
 * `TRUST_PROXY`: a hop count ("1") or a comma-separated list of proxy addresses/CIDRs. Never
 * `true`: trusting every hop lets a client pick its own address with X-Forwarded-For.
 */
const trustProxy = z
  .string()
  .default('0')
  .transform((v, ctx) => {
    const s = v.trim();
    if (/^\d{1,2}$/.test(s)) return Number(s);
    if (/^(true|false|yes|no|on|off)$/i.test(s) || s === '') {
      ctx.addIssue({ code: 'custom', message: 'must be a hop count (e.g. 1) or a list of proxy addresses, never true/false' });
      return z.NEVER;
    }
    const list = s.split(',').map((p) => p.trim()).filter(Boolean);
    // Compiled here by the same code main.ts uses (proxy-addr), so what passes also runs.
    try {
      compileTrustProxy(list);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `list entries must be IP addresses, CIDR ranges or loopback/linklocal/uniquelocal (${(err as Error).message})` });
      return z.NEVER;
    }
    return list;
  });

/** One `ALLOWED_ORIGINS` entry as browsers send it in `Origin`: scheme://host[:port], never `*`. */
function origin(o: string, ctx: z.RefinementCtx): string {
  const refuse = (why: string) => {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(o)}: ${why}` });
    return o;
  };
  if (o.includes('*')) return refuse('no wildcards: list each origin (scheme://host[:port])');
  let url: URL;
  try {
    url = new URL(o);
  } catch {
    return refuse('not an origin: write scheme://host[:port], e.g. https://votes.example');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return refuse('not an origin: the scheme must be https or http, e.g. https://votes.example');
  if (url.username || url.password || url.pathname !== '/' || url.search || url.hash || /[?#]/.test(o))
    return refuse('not an origin: scheme://host[:port] only, no path, query or credentials');
  return url.origin;
}

const onOff = z.enum(['on', 'off']);

const shape = {
  ...commonEnv,
  PORT: intEnv(0, 65535, 3000),
  /**
   * Server processes sharing PORT (node:cluster): a number, or `auto` for one per core this
   * process may run on. Above 1 a primary process starts them, restarts one that dies, and serves
   * the ops port with every process's metrics summed.
   */
  WEB_CONCURRENCY: z
    .string()
    .trim()
    .default('1')
    .pipe(
      z.union(
        [z.literal('auto').transform(() => Math.min(64, availableParallelism())), z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(1).max(64))],
        { error: 'must be a whole number from 1 to 64, or auto (one process per core)' },
      ),
    ),
  /**
   * The ops port: /metrics (and the probes again). Apart from PORT because the metrics count votes
   * per option, which the public port must not tell while a round's results are hidden.
   */
  OPS_PORT: intEnv(0, 65535, DEFAULT_OPS_PORT),
  /**
   * Where the ops port listens. Loopback unless told otherwise, so a server started by hand does
   * not publish its metrics; in a pod it must be 0.0.0.0 (or ::) for Prometheus to reach it.
   */
  OPS_HOST: z
    .string()
    .trim()
    .default('127.0.0.1')
    .refine((h) => isIP(h) !== 0, { error: 'must be an IP address to listen on: 127.0.0.1 for this machine only, 0.0.0.0 or :: for every interface' }),
  /**
   * A read replica (e.g. CloudNativePG's `-ro` service) for GET /api/vote/:id, the one read that
   * grows with the vote rate (the browser asks after each 202). Results stay on DATABASE_URL.
   */
  DATABASE_READ_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /** Connections in this process's pool (and again in the read pool): count it into max_connections. */
  DATABASE_POOL_MAX: intEnv(1, 1000, 10),
  TRUST_PROXY: trustProxy,
  /** `off` turns every rate limit off (load tests). */
  RATE_LIMIT: onOff.default('on'),
  /** Votes per client address per minute. A venue NAT puts a thousand phones behind one address. */
  RATE_LIMIT_VOTES_PER_MIN: intEnv(1, 1_000_000, 3000),
  /** New SSE connections per client address per minute. */
  RATE_LIMIT_STREAMS_PER_MIN: intEnv(1, 1_000_000, 1500),
  /**
   * Command timeout of the request-path Redis client (rate limits); for votes, how long a written
   * command may wait for its reply before Redis counts as stalled and new votes get a fast 503.
   */
  REDIS_COMMAND_TIMEOUT_MS: intEnv(50, 10_000, 400),
  RESULTS_CACHE_MS: intEnv(0, 60_000, 250),
  /**
   * Seconds an Idempotency-Key's record stays in Redis: Redis holds only this window's keyed
   * votes. A retry after it is deduplicated by the consumer's applied-votes table.
   */
  IDEMPOTENCY_WINDOW_SECONDS: intEnv(1, 86_400, 300),
  /** Replaced by IDEMPOTENCY_WINDOW_SECONDS: refused, so an old setting is not silently ignored. */
  IDEMPOTENCY_TTL_HOURS: z.undefined({
    error: 'removed: set IDEMPOTENCY_WINDOW_SECONDS instead (seconds a key is held in Redis, default 300; PostgreSQL dedupes later retries for APPLIED_RETENTION_HOURS)',
  }).optional(),
  /**
   * Replicas that must hold a vote before it is answered 202 (one WAIT per connection per tick).
   * 0: the primary's reply is enough; a failover then loses the replication lag's worth of 202s.
   */
  REDIS_ACK_REPLICAS: intEnv(0, 16, 0),
  /** How long the WAIT may take; short of the replicas by then → 504 "outcome unknown". Below VOTE_OUTCOME_WAIT_MS. */
  REDIS_ACK_TIMEOUT_MS: intEnv(1, 60_000, 1000),
  /** A vote sent to Redis waits at most this for the reply, then is answered 504 "outcome unknown". */
  VOTE_OUTCOME_WAIT_MS: intEnv(100, 60_000, 3000),
  /** How often the server samples Redis INFO memory into livevote_redis_memory_* gauges. */
  REDIS_MEMORY_SAMPLE_MS: intEnv(1000, 3_600_000, 15_000),
  /** Extra origins (besides the request's own) allowed to POST votes, comma-separated. */
  ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((s, ctx) => s.split(',').map((o) => o.trim().replace(/\/$/, '')).filter(Boolean).map((o) => origin(o, ctx))),
  SSE_TICK_MS: intEnv(0, 10_000, 100),
  /** Frames per second one process writes in all; beyond, the tick stretches (see SseHub). */
  SSE_MAX_FRAMES_PER_SEC: intEnv(100, 10_000_000, 20_000),
  SSE_HEARTBEAT_MS: intEnv(100, 300_000, 15_000),
  SSE_RETRY_MS: intEnv(100, 600_000, 2000),
  SSE_MAX_CLIENTS: intEnv(1, 1_000_000, 10_000),
  SSE_MAX_PER_IP: intEnv(1, 1_000_000, 2000),
  /** A client whose socket has not drained for this long is dropped. */
  SSE_DRAIN_TIMEOUT_MS: intEnv(100, 600_000, 10_000),
  /** Bytes one SSE client may have queued in Node's buffers; past this it is dropped at once. */
  SSE_MAX_QUEUED_BYTES: intEnv(0, 16 * 1024 * 1024, 4096),
  /** SIGTERM: stream ends are spread over this long (at most half of SHUTDOWN_GRACE_MS). */
  SSE_CLOSE_SPREAD_MS: intEnv(0, 600_000, 5000),
  SHUTDOWN_GRACE_MS: intEnv(0, 600_000, 10_000),
  /**
   * The host's secret for /api/host/* (Bearer, or traded for a session cookie). Required: the
   * controls exist on every deployment, so a server without a token would be one anybody may run.
   */
  HOST_TOKEN: z
    .string({ error: `required: the host's secret, at least ${HOST_TOKEN_MIN_LENGTH} characters (npm start and the chart generate one)` })
    .refine((t) => t.length >= HOST_TOKEN_MIN_LENGTH && t.trim() === t && !/\s/.test(t), {
      error: `must be at least ${HOST_TOKEN_MIN_LENGTH} characters with no spaces (e.g. openssl rand -base64 24)`,
    }),
  /** Host requests without a valid credential per client address per minute; beyond, 429. */
  RATE_LIMIT_HOST_FAILURES_PER_MIN: intEnv(1, 10_000, 10),
  /** How often each server reports its open streams for GET /api/watchers (a report holds 3×). */
  WATCHERS_REPORT_MS: intEnv(100, 600_000, 2000),
  /**
   * How often each server checks Redis's copy of the round state against PostgreSQL (and restores
   * it when Redis lost it), and re-reads the current round for its screens.
   */
  ROUND_STATE_CHECK_MS: intEnv(100, 600_000, 5000),
  /** Path to the SvelteKit adapter-node build to serve on the same port (local all-in-one). */
  CLIENT_DIR: z.string().optional(),
};

export type ServerConfig = z.infer<z.ZodObject<typeof shape>>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const config = parseEnv(shape, env);
  // Port 0 twice is two different free ports; any other equal pair could never both listen.
  if (config.OPS_PORT !== 0 && config.OPS_PORT === config.PORT) {
    throw new ConfigError(`invalid configuration:\n  OPS_PORT: must differ from PORT (${config.PORT}): the metrics are kept off the public port`);
  }
  if (config.REDIS_ACK_REPLICAS > 0 && config.REDIS_ACK_TIMEOUT_MS >= config.VOTE_OUTCOME_WAIT_MS) {
    throw new ConfigError(
      `invalid configuration:\n  REDIS_ACK_TIMEOUT_MS: must be below VOTE_OUTCOME_WAIT_MS (${config.VOTE_OUTCOME_WAIT_MS}): the WAIT must answer before the vote is given up on`,
    );
  }
  return config;
}
