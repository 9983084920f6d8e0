import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Where the services find Redis: exactly one of three modes, chosen by which variables are set. */
export type RedisTarget =
  | { mode: 'standalone'; url: string; tls?: RedisTls }
  | {
      mode: 'sentinel';
      sentinels: HostPort[];
      name: string;
      sentinelUsername?: string;
      sentinelPassword?: string;
      username?: string;
      password?: string;
      tls?: RedisTls;
      natMap?: NatMap;
    }
  | { mode: 'cluster'; nodes: HostPort[]; username?: string; password?: string; tls?: RedisTls; natMap?: NatMap };

/** Address a node announces ("host:port") → where this process reaches it. */
export type NatMap = Record<string, HostPort>;

export interface HostPort {
  host: string;
  port: number;
}
export interface RedisTls {
  ca: string;
}

const hostPortList = (variable: string, defaultPort: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx): HostPort[] | undefined => {
      if (v === undefined) return undefined;
      const items = v.split(',').map((s) => s.trim()).filter(Boolean);
      if (items.length === 0) {
        ctx.addIssue({ code: 'custom', message: `${variable}: empty; give host:port,host:port,…` });
        return z.NEVER;
      }
      const out: HostPort[] = [];
      for (const item of items) {
        const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(item);
        const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
        if (!m || port < 1 || port > 65535) {
          ctx.addIssue({ code: 'custom', message: `${JSON.stringify(item)} is not host:port` });
          return z.NEVER;
        }
        out.push({ host: (m[1] as string).replace(/^\[|\]$/g, ''), port });
      }
      return out;
    });

/** `announced=reachable,…`, both sides host:port. */
const natMapVariable = z
  .string()
  .optional()
  .transform((v, ctx): NatMap | undefined => {
    if (v === undefined) return undefined;
    const out: NatMap = {};
    const items = v.split(',').map((s) => s.trim()).filter(Boolean);
    const hostPort = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;
    for (const item of items) {
      const [from, to, ...rest] = item.split('=').map((s) => s.trim());
      const f = hostPort.exec(from ?? '');
      const t = hostPort.exec(to ?? '');
      if (!f || !t || rest.length || Number(f[2]) > 65535 || Number(t[2]) > 65535 || Number(f[2]) < 1 || Number(t[2]) < 1) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(item)} is not announced-host:port=reachable-host:port` });
        return z.NEVER;
      }
      out[`${(f[1] as string).replace(/^\[|\]$/g, '')}:${f[2]}`] = { host: (t[1] as string).replace(/^\[|\]$/g, ''), port: Number(t[2]) };
    }
    if (items.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'empty; give announced-host:port=reachable-host:port,…' });
      return z.NEVER;
    }
    return out;
  });

/**
 * The Redis variables every service shares. Which mode is meant is decided by `redisTargetOf`
 * (two modes, or none, is a start-up error naming the variables).
 */
export const redisEnv = {
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  REDIS_SENTINELS: hostPortList('REDIS_SENTINELS', 26379),
  REDIS_SENTINEL_NAME: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
  REDIS_SENTINEL_USERNAME: z.string().min(1).optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  REDIS_CLUSTER_NODES: hostPortList('REDIS_CLUSTER_NODES', 6379),
  /** The services' Redis user and password in Sentinel and Cluster modes (with REDIS_URL they are in the URL). */
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** A PEM file of the CA that signed Redis's (and the Sentinels') certificates: TLS with verification. */
  REDIS_CA_FILE: z.string().min(1).optional(),
  /**
   * Where to reach nodes whose announced address this process cannot use (NAT, port forwarding, a
   * proxy per link): every address Sentinel or the Cluster hands out is looked up here first.
   */
  REDIS_NAT_MAP: natMapVariable,
};

type RedisEnv = { [K in keyof typeof redisEnv]?: z.infer<(typeof redisEnv)[K]> } & { STREAM_SHARDS?: number | undefined };

/** Adds an issue per variable for every rule the Redis variables break; used by parseEnv. */
export function checkRedisEnv(env: RedisEnv, ctx: z.RefinementCtx): void {
  const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  const modes = [env.REDIS_URL && 'REDIS_URL', env.REDIS_SENTINELS && 'REDIS_SENTINELS', env.REDIS_CLUSTER_NODES && 'REDIS_CLUSTER_NODES'].filter(Boolean) as string[];
  if (modes.length === 0) issue('REDIS_URL', 'required: set exactly one of REDIS_URL, REDIS_SENTINELS (with REDIS_SENTINEL_NAME) or REDIS_CLUSTER_NODES');
  if (modes.length > 1) for (const m of modes) issue(m, `set only one of ${modes.join(', ')}: they are different ways to reach Redis`);
  if (env.REDIS_CLUSTER_NODES && env.STREAM_SHARDS === undefined) {
    issue('STREAM_SHARDS', 'required with REDIS_CLUSTER_NODES: the unsharded stream keys are in different slots; set e.g. one shard per master');
  }
  if (env.REDIS_SENTINELS && !env.REDIS_SENTINEL_NAME) issue('REDIS_SENTINEL_NAME', 'required with REDIS_SENTINELS: the name the Sentinels monitor the primary under');
  if (env.REDIS_SENTINEL_NAME && !env.REDIS_SENTINELS) issue('REDIS_SENTINEL_NAME', 'only with REDIS_SENTINELS');
  for (const v of ['REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD'] as const) if (env[v] && !env.REDIS_SENTINELS) issue(v, 'only with REDIS_SENTINELS');
  for (const v of ['REDIS_USERNAME', 'REDIS_PASSWORD'] as const) {
    if (env[v] && env.REDIS_URL) issue(v, 'with REDIS_URL the user and password go in the URL (redis://user:password@host:port/db)');
  }
  if (env.REDIS_NAT_MAP && env.REDIS_URL) issue('REDIS_NAT_MAP', 'only with REDIS_SENTINELS or REDIS_CLUSTER_NODES: with REDIS_URL the address is the one given');
  if (env.REDIS_CA_FILE) {
    try {
      readFileSync(env.REDIS_CA_FILE, 'utf8');
    } catch (err) {
      issue('REDIS_CA_FILE', `cannot read ${env.REDIS_CA_FILE}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (env.REDIS_URL && !env.REDIS_URL.startsWith('rediss://')) issue('REDIS_CA_FILE', 'with REDIS_URL, TLS needs a rediss:// URL');
  }
}

/** The target the checked variables describe. */
export function redisTargetOf(env: RedisEnv): RedisTarget {
  const tls = env.REDIS_CA_FILE ? { tls: { ca: readFileSync(env.REDIS_CA_FILE, 'utf8') } } : {};
  const shared = {
    ...(env.REDIS_USERNAME ? { username: env.REDIS_USERNAME } : {}),
    ...(env.REDIS_PASSWORD ? { password: env.REDIS_PASSWORD } : {}),
    ...(env.REDIS_NAT_MAP ? { natMap: env.REDIS_NAT_MAP } : {}),
  };
  if (env.REDIS_SENTINELS) {
    return {
      mode: 'sentinel',
      sentinels: env.REDIS_SENTINELS,
      name: env.REDIS_SENTINEL_NAME as string,
      ...(env.REDIS_SENTINEL_USERNAME ? { sentinelUsername: env.REDIS_SENTINEL_USERNAME } : {}),
      ...(env.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: env.REDIS_SENTINEL_PASSWORD } : {}),
      ...shared,
      ...tls,
    };
  }
  if (env.REDIS_CLUSTER_NODES) return { mode: 'cluster', nodes: env.REDIS_CLUSTER_NODES, ...shared, ...tls };
  return { mode: 'standalone', url: env.REDIS_URL as string, ...tls };
}
