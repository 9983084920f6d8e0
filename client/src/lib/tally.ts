/**
 * The live tally as the browser sees it, and the rules for accepting a new frame.
 * Values come from the contract's dependency-free entry; the schemas (and zod) stay out of the
 * voter page's JavaScript budget, so frames are checked by hand here.
 */
import type { Results } from '@livevote/contract';
import { VOTE_OPTIONS, type VoteOption } from '@livevote/contract/constants';

export type Tally = Results;
export { VOTE_OPTIONS, type VoteOption };
export const OPTION_LABEL: Record<VoteOption, string> = { cats: 'Cats', dogs: 'Dogs' };

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses a `tally` frame or a `/api/results` body; anything malformed is `null`, never a throw. */
export function parseTally(input: unknown): Tally | null {
  let value = input;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (!isCount(v.cats) || !isCount(v.dogs) || !isCount(v.total) || !isCount(v.seq)) return null;
  return {
    cats: v.cats,
    dogs: v.dogs,
    total: v.total,
    seq: v.seq,
    updatedAt: typeof v.updatedAt === 'string' ? v.updatedAt : '',
  };
}

/**
 * Tallies are state, not events: keep whichever has the higher `seq`. A frame with a lower or
 * equal seq (a late reconnect snapshot, a slow first-paint fetch) never overwrites a newer one.
 */
export function newerTally(current: Tally | null, incoming: Tally | null): Tally | null {
  if (incoming === null) return current;
  if (current === null) return incoming;
  return incoming.seq > current.seq ? incoming : current;
}

export const EMPTY_TALLY: Tally = { cats: 0, dogs: 0, total: 0, seq: 0, updatedAt: '' };
