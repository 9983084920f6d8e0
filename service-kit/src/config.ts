import { z } from 'zod';
import { DEFAULT_REDIS_PREFIX } from '@livevote/contract/constants';

/** Environment fields every service shares; each service extends this with its own knobs. */
export const commonEnv = {
  REDIS_URL: z.url({ protocol: /^rediss?$/ }),
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
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return result.data;
}
