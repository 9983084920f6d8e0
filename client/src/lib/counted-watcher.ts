/**
 * Turns "sent" into "counted ✓". After the 202, each tally with a higher seq than the one on
 * screen when the 202 came may contain the vote, so we ask GET /api/vote/:id once for it —
 * never more than one request in flight and never more often than tallies arrive. A fallback
 * check runs `fallbackMs` after the 202 in case the counting tally raced ahead of the 202, and
 * again with a doubling delay while no tally comes (results hidden: no frame moves with votes).
 * It makes no request itself: `check` is `getVoteStatus` from api.ts in the browser.
 */
import type { VoteStatusAnswer } from './api.ts';

export type { VoteStatusAnswer };

export type StatusCheck = (id: string) => Promise<VoteStatusAnswer>;

export interface CountedWatcherOptions {
  check: StatusCheck;
  onCounted: (seq: number | undefined) => void;
  fallbackMs?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

/** Fallback checks at 1.5, 3, 6, 12 and 24 s after the 202 (by default), while no tally asks. */
const FALLBACK_REPEATS = 5;

export class CountedWatcher {
  readonly id: string;
  #sinceSeq: number;
  #checkedUpTo: number;
  #pendingSeq: number | null = null;
  #inFlight = false;
  #done = false;
  #timer: unknown = null;
  #options: CountedWatcherOptions;
  /** How many status requests were made (for tests and diagnostics). */
  checks = 0;

  constructor(id: string, seqAt202: number, options: CountedWatcherOptions) {
    this.id = id;
    this.#sinceSeq = seqAt202;
    this.#checkedUpTo = seqAt202;
    this.#options = options;
    this.#arm(options.fallbackMs ?? 1500, FALLBACK_REPEATS);
  }

  /**
   * The fallback check, repeated with a doubling delay while no tally came to ask for it: while
   * results are hidden no frame moves with votes, so only these checks can tell "counted ✓".
   */
  #arm(ms: number, left: number): void {
    if (ms <= 0 || left <= 0) return;
    const setTimer = this.#options.setTimer ?? ((fn, t) => setTimeout(fn, t));
    this.#timer = setTimer(() => {
      this.#timer = null;
      if (this.#done || this.#checkedUpTo !== this.#sinceSeq || this.#inFlight) return;
      void this.#ask(this.#sinceSeq).then(() => {
        if (!this.#done && this.#checkedUpTo === this.#sinceSeq) this.#arm(ms * 2, left - 1);
      });
    }, ms);
  }

  get counted(): boolean {
    return this.#done;
  }

  /** Call with every tally's seq. */
  onTally(seq: number): void {
    if (this.#done || seq <= this.#checkedUpTo) return;
    if (this.#inFlight) {
      // Remember only the newest; it is asked for as soon as the current request ends.
      this.#pendingSeq = Math.max(this.#pendingSeq ?? 0, seq);
      return;
    }
    void this.#ask(seq);
  }

  stop(): void {
    this.#done = true;
    this.#clear();
  }

  #clear(): void {
    if (this.#timer !== null) {
      (this.#options.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>)))(this.#timer);
      this.#timer = null;
    }
  }

  async #ask(seq: number): Promise<void> {
    this.#inFlight = true;
    this.#checkedUpTo = Math.max(this.#checkedUpTo, seq);
    this.checks++;
    let answer: VoteStatusAnswer | null = null;
    try {
      answer = await this.#options.check(this.id);
    } catch {
      answer = null; // the next tally asks again
    }
    this.#inFlight = false;
    if (this.#done) return;
    if (answer?.counted) {
      this.#done = true;
      this.#clear();
      this.#options.onCounted(answer.seq);
      return;
    }
    const next = this.#pendingSeq;
    this.#pendingSeq = null;
    if (next !== null && next > this.#checkedUpTo) void this.#ask(next);
  }
}
