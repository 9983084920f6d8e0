/**
 * The live tally as the browser sees it, and the rules for accepting a new frame.
 * Values come from the contract's dependency-free entry; the schemas (and zod) stay out of the
 * voter page's JavaScript budget, so frames are checked by hand here.
 */
import { RESULTS_STATES, VOTE_OPTIONS, VOTING_STATES, type ResultsState, type VoteOption, type VotingState } from '@livevote/contract/constants';

/**
 * The current round as a page shows it. While its results are hidden the server sends no numbers;
 * here they are 0 and `results` is 'hidden', and every component that shows a number checks it.
 */
export interface Tally {
  round: number;
  voting: VotingState;
  results: ResultsState;
  cats: number;
  dogs: number;
  total: number;
  seq: number;
  updatedAt: string;
}
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
  if (!isCount(v.seq)) return null;
  // A server from before rounds sends none of the three: its one round, open and shown.
  const round = v.round === undefined ? 1 : v.round;
  const voting = v.voting === undefined ? 'open' : v.voting;
  const results = v.results === undefined ? 'shown' : v.results;
  if (!isCount(round) || round < 1) return null;
  if (!(VOTING_STATES as readonly unknown[]).includes(voting) || !(RESULTS_STATES as readonly unknown[]).includes(results)) return null;
  const base = { round, voting: voting as VotingState, seq: v.seq, updatedAt: typeof v.updatedAt === 'string' ? v.updatedAt : '' };
  if (results === 'hidden') {
    if (v.cats !== null || v.dogs !== null || v.total !== null) return null;
    return { ...base, results: 'hidden', cats: 0, dogs: 0, total: 0 };
  }
  if (!isCount(v.cats) || !isCount(v.dogs) || !isCount(v.total)) return null;
  return { ...base, results: 'shown', cats: v.cats, dogs: v.dogs, total: v.total };
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

export const EMPTY_TALLY: Tally = { round: 1, voting: 'open', results: 'shown', cats: 0, dogs: 0, total: 0, seq: 0, updatedAt: '' };
