import { z } from 'zod';
import { commonEnv, intEnv, parseEnv } from '@livevote/service-kit';

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
    if (!list.every((p) => /^[0-9a-fA-F:.]+(\/\d{1,3})?$|^(loopback|linklocal|uniquelocal)$/.test(p))) {
      ctx.addIssue({ code: 'custom', message: 'list entries must be IP addresses, CIDR ranges or loopback/linklocal/uniquelocal' });
      return z.NEVER;
    }
    return list;
  });

const onOff = z.enum(['on', 'off']);

const shape = {
  ...commonEnv,
  PORT: intEnv(0, 65535, 3000),
  TRUST_PROXY: trustProxy,
  /** `off` turns every rate limit off (load tests). */
  RATE_LIMIT: onOff.default('on'),
  /** Votes per client address per minute. A venue NAT puts a thousand phones behind one address. */
  RATE_LIMIT_VOTES_PER_MIN: intEnv(1, 1_000_000, 3000),
  /** New SSE connections per client address per minute. */
  RATE_LIMIT_STREAMS_PER_MIN: intEnv(1, 1_000_000, 1500),
  /** Command timeout of the request-path Redis client: a down Redis answers 503 within this. */
  REDIS_COMMAND_TIMEOUT_MS: intEnv(50, 10_000, 400),
  RESULTS_CACHE_MS: intEnv(0, 60_000, 250),
  IDEMPOTENCY_TTL_HOURS: intEnv(1, 24 * 30, 24),
  /** Extra origins (besides the request's own) allowed to POST votes, comma-separated. */
  ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((o) => o.trim().replace(/\/$/, '')).filter(Boolean)),
  SSE_TICK_MS: intEnv(0, 10_000, 100),
  /** Frames per second one process writes in all; beyond, the tick stretches (see SseHub). */
  SSE_MAX_FRAMES_PER_SEC: intEnv(100, 10_000_000, 20_000),
  SSE_HEARTBEAT_MS: intEnv(100, 300_000, 15_000),
  SSE_RETRY_MS: intEnv(100, 600_000, 2000),
  SSE_MAX_CLIENTS: intEnv(1, 1_000_000, 10_000),
  SSE_MAX_PER_IP: intEnv(1, 1_000_000, 2000),
  /** A client whose socket has not drained for this long is dropped. */
  SSE_DRAIN_TIMEOUT_MS: intEnv(100, 600_000, 10_000),
  SHUTDOWN_GRACE_MS: intEnv(0, 600_000, 10_000),
  /** Path to the SvelteKit adapter-node build to serve on the same port (local all-in-one). */
  CLIENT_DIR: z.string().optional(),
};

export type ServerConfig = z.infer<z.ZodObject<typeof shape>>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  return parseEnv(shape, env);
}
