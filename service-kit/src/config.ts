import { z } from 'zod';
import { DEFAULT_REDIS_PREFIX } from '@livevote/contract/constants';
import { checkRedisEnv, redisEnv } from './redis-target.ts';

/**
 * Environment fields every service shares; each service extends this with its own knobs. The
 * Redis variables are checked together (exactly one mode) by parseEnv.
 */
export const commonEnv = {
  ...redisEnv,
  /**
   * How many hash-tagged shards the votes stream is split into (1–64). Unset: the one unsharded
   * stream under the original key names. Required with REDIS_CLUSTER_NODES.
   */
  STREAM_SHARDS: z
    .string()
    .trim()
    .regex(/^\d+$/, { error: 'must be a whole number from 1 to 64' })
    .transform(Number)
    .pipe(z.number().int().min(1).max(64))
    .optional(),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{0,32}$/).default(DEFAULT_REDIS_PREFIX),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/**
 * A whole number from the environment, `min`..`max`, `def` when unset. Stricter than
 * `z.coerce.number()`: an empty or blank value is refused, not read as 0 (`PORT=""` would
 * otherwise listen on a random port), and so are `1e3`, `0x10` and `12abc`.
 */
export const intEnv = (min: number, max: number, def: number) =>
  z
    .string()
    .trim()
    .regex(/^[+-]?\d+$/, { error: `must be a whole number from ${min} to ${max}` })
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .default(def);

/** A bad start-up configuration; the message names every bad variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses the environment once at start-up. On failure it throws one ConfigError that names every
 * bad variable, so a misconfigured pod says exactly what is wrong before doing anything; the
 * service's main decides how to end.
 */
export function parseEnv<S extends z.ZodRawShape>(shape: S, env: NodeJS.ProcessEnv = process.env): z.infer<z.ZodObject<S>> {
  const result = z.object(shape).safeParse(env);
  const issues = result.success ? [] : [...result.error.issues];
  // The Redis variables are also checked together (exactly one mode, …) even when another
  // variable failed, so one start names every problem.
  if ('REDIS_URL' in shape) {
    const redis = z.object({ ...redisEnv, STREAM_SHARDS: commonEnv.STREAM_SHARDS }).superRefine(checkRedisEnv).safeParse(env);
    const seen = new Set(issues.map((i) => `${i.path.join('.')}\n${i.message}`));
    for (const i of redis.success ? [] : redis.error.issues) if (!seen.has(`${i.path.join('.')}\n${i.message}`)) issues.push(i);
  }
  if (issues.length || !result.success) {
    const order = Object.keys(shape);
    const rank = (i: z.core.$ZodIssue) => order.indexOf(String(i.path[0]));
    const lines = issues.sort((a, b) => rank(a) - rank(b)).map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return result.data;
}
