/**
 * Counting is asynchronous: a 202 means the vote is in the Redis stream, and the consumer
 * applies it later. These helpers wait, with a bounded deadline, for the pipeline to catch up.
 */
import { sleep } from 'k6';
import { castVote, getResults, getVoteStatus, voteKey, type Results } from './api.ts';

/** Polls `probe` every `intervalMs` until it returns a value or `timeoutMs` has passed. */
export function pollUntil<T>(timeoutMs: number, intervalMs: number, probe: () => T | undefined): T | undefined {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())) / 1000);
  }
}

/**
 * Casts one marker vote and waits until the consumer has counted it: after that, the backlog of
 * votes sent before it has (in practice) been applied too, and /api/results shows it.
 * Returns how long that took, in ms, and the results then.
 * Throws when it does not happen within `timeoutMs`, which fails the k6 run.
 */
export function waitForDrain(base: string, runId: string, prefix: string, timeoutMs: number): { ms: number; after: Results } {
  const started = Date.now();
  const key = voteKey(`${prefix}-marker`, runId, 0);
  const vote = castVote(base, 'cats', { key, retries: 3, tags: { phase: 'teardown' } });
  if (!vote.accepted) throw new Error(`drain marker vote was not accepted: ${vote.res.status} ${vote.res.body}`);
  const counted = pollUntil(timeoutMs, 250, () => {
    const status = getVoteStatus(base, key, { phase: 'teardown' });
    return status?.counted ? status : undefined;
  });
  if (counted === undefined) {
    throw new Error(`the consumer did not count the drain marker vote ${key} within ${timeoutMs} ms: votes are stuck`);
  }
  // What screens show (/api/results, the SSE frames) may trail the database by a moment.
  const seq = counted.seq ?? 0;
  const after = pollUntil(Math.max(1000, timeoutMs - (Date.now() - started)), 100, () => {
    const r = getResults(base, { phase: 'teardown' });
    return r !== null && r.seq >= seq ? r : undefined;
  });
  if (after === undefined) throw new Error(`GET /api/results never reached seq ${seq}, in which the drain marker vote was counted`);
  return { ms: Date.now() - started, after };
}
