import { z } from 'zod';

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
