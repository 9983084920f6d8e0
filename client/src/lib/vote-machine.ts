/**
 * The voter page's vote, as a pure state machine: eight phases, the events that move between
 * them, and what the page shows for each. No timers, no requests, no clock of its own: the page
 * (`routes/+page.svelte`) sends the vote (vote-sender.ts), watches for "counted" (counted-watcher.ts)
 * and feeds what happened in here as events, with the time when the answer depends on it.
 *
 * | from | event | to |
 * |---|---|---|
 * | idle, sent, counted, failed, closed, rate-limited (wait over) | `tap` | sending (with this tap's key) |
 * | sending, retrying | `retry` | retrying (same key, attempt n) |
 * | sending, retrying | `settled` accepted | sent (with the vote id) |
 * | sending, retrying | `settled` rate-limited | rate-limited (until now + Retry-After) |
 * | sending, retrying | `settled` rejected with 409 | closed (voting is closed: nothing stored, no retry) |
 * | sending, retrying | `settled` rejected / gave-up | failed (with the message shown) |
 * | sending, retrying | `settled` aborted | idle |
 * | sent | `counted` with its id | counted |
 *
 * A tap is refused while a vote is on its way or a 429 wait is still running; an event that does
 * not fit the current phase (a late retry or "counted" of an earlier vote) leaves it unchanged.
 */
import { OPTION_LABEL, type VoteOption } from './tally.ts';
import type { SendOutcome } from './vote-sender.ts';

export type VoteState =
  | { phase: 'idle' }
  /** `key` is the Idempotency-Key of this tap; every retry sends the same one. */
  | { phase: 'sending'; option: VoteOption; key: string }
  /** `attempt` is the attempt that failed (1-based); the next one is `attempt + 1`. */
  | { phase: 'retrying'; option: VoteOption; key: string; attempt: number }
  /** The API stored the vote (2xx); `id` is what GET /api/vote/:id is asked about. */
  | { phase: 'sent'; option: VoteOption; id: string }
  | { phase: 'counted'; option: VoteOption }
  /** 429: no tap until `until` (ms since the epoch). */
  | { phase: 'rate-limited'; until: number }
  | { phase: 'failed'; option: VoteOption; message: string }
  /** 409: voting closed before this vote arrived; it was not stored. */
  | { phase: 'closed'; option: VoteOption };

export type VotePhase = VoteState['phase'];

export type VoteEvent =
  /** The voter tapped an option; `key` is a fresh Idempotency-Key, `now` the page's clock. */
  | { type: 'tap'; option: VoteOption; key: string; now: number }
  /** An attempt failed and will be retried by itself (vote-sender's onRetry). */
  | { type: 'retry'; attempt: number }
  /** sendVote finished; `now` dates a 429's wait. */
  | { type: 'settled'; outcome: SendOutcome; now: number }
  /** GET /api/vote/:id said this vote is counted. */
  | { type: 'counted'; id: string };

export const INITIAL_VOTE_STATE: VoteState = { phase: 'idle' };

export const GAVE_UP_MESSAGE = 'Could not reach the server. Check your connection and tap again.';

/** True while a tap must wait: a vote on its way, or a 429 wait not over at `now`. */
export function isBusy(state: VoteState, now: number): boolean {
  return state.phase === 'sending' || state.phase === 'retrying' || (state.phase === 'rate-limited' && state.until > now);
}

/** Whole seconds left of a 429 wait at `now` (0 when over or not rate-limited). */
export function waitSeconds(state: VoteState, now: number): number {
  return state.phase === 'rate-limited' ? Math.max(0, Math.ceil((state.until - now) / 1000)) : 0;
}

/** The next state; the same object when the event does not apply, so `next === state` means "ignored". */
export function voteTransition(state: VoteState, event: VoteEvent): VoteState {
  switch (event.type) {
    case 'tap':
      if (isBusy(state, event.now)) return state;
      return { phase: 'sending', option: event.option, key: event.key };
    case 'retry':
      if (state.phase !== 'sending' && state.phase !== 'retrying') return state;
      return { phase: 'retrying', option: state.option, key: state.key, attempt: event.attempt };
    case 'settled':
      if (state.phase !== 'sending' && state.phase !== 'retrying') return state;
      return settle(state.option, event.outcome, event.now);
    case 'counted':
      if (state.phase !== 'sent' || state.id !== event.id) return state;
      return { phase: 'counted', option: state.option };
  }
}

function settle(option: VoteOption, outcome: SendOutcome, now: number): VoteState {
  switch (outcome.kind) {
    case 'accepted':
      return { phase: 'sent', option, id: outcome.id };
    case 'rate-limited':
      return { phase: 'rate-limited', until: now + outcome.retryAfterSeconds * 1000 };
    case 'rejected':
      if (outcome.status === 409) return { phase: 'closed', option };
      return { phase: 'failed', option, message: `Sorry, that vote was refused (${outcome.message}).` };
    case 'gave-up':
      return { phase: 'failed', option, message: GAVE_UP_MESSAGE };
    case 'aborted':
      return { phase: 'idle' };
  }
}

/** The status line under the buttons (a `role="status"` region) at `now`. */
export function voteStatusText(state: VoteState, now: number): string {
  switch (state.phase) {
    case 'idle':
      return '';
    case 'sending':
      return `Sending your vote for ${OPTION_LABEL[state.option]}…`;
    case 'retrying':
      return `Connection trouble — still sending your vote for ${OPTION_LABEL[state.option]} (try ${state.attempt + 1})…`;
    case 'sent':
      return `Vote for ${OPTION_LABEL[state.option]} sent — counting…`;
    case 'counted':
      return `Vote for ${OPTION_LABEL[state.option]} counted ✓`;
    case 'rate-limited': {
      const s = waitSeconds(state, now);
      return s > 0 ? `So many votes from here! You can vote again in ${s} s.` : 'You can vote again now.';
    }
    case 'failed':
      return state.message;
    case 'closed':
      return `Voting is closed: your vote for ${OPTION_LABEL[state.option]} was not counted.`;
  }
}
