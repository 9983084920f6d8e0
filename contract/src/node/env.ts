import { z } from 'zod';
import { DEFAULT_REDIS_PREFIX } from '../index.ts';

/** Environment fields every service shares; each service extends this with its own knobs. */
export const commonEnv = {
  REDIS_URL: z.url({ protocol: /^rediss?$/ }),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{0,32}$/).default(DEFAULT_REDIS_PREFIX),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

export const intEnv = (min: number, max: number, def: number) => z.coerce.number().int().min(min).max(max).default(def);

/**
 * Parses the environment once at start-up. On failure it throws one error that names every
 * bad variable, so a misconfigured pod says exactly what is wrong before doing anything.
 */
export function parseEnv<S extends z.ZodRawShape>(shape: S, env: NodeJS.ProcessEnv = process.env): z.infer<z.ZodObject<S>> {
  const result = z.object(shape).safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** A service's start: parse its configuration or exit with code 2 and the message. */
export function configOrExit<T>(service: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    console.error(`${service}: ${(err as Error).message}`);
    process.exit(2);
  }
}
