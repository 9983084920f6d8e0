import type { Request } from 'express';
import { IDEMPOTENCY_KEY_PATTERN } from '@livevote/contract';

/**
 * The request's `Idempotency-Key` (an sf-string per the IETF draft: optional surrounding quotes):
 * undefined when none was sent, null when it is not one we accept.
 */
export function idempotencyKey(req: Request): string | undefined | null {
  const raw = req.get('idempotency-key');
  if (raw === undefined) return undefined;
  const key = raw.trim().replace(/^"(.*)"$/, '$1');
  return IDEMPOTENCY_KEY_PATTERN.test(key) ? key : null;
}

export const BAD_IDEMPOTENCY_KEY = 'Idempotency-Key must be 8 to 128 characters of A-Z a-z 0-9 _ . : -';
