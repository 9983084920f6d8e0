/**
 * Turns "sent" into "counted ✓". After the 202, each tally with a higher seq than the one on
 * screen when the 202 came may contain the vote, so we ask GET /api/vote/:id once for it —
 * never more than one request in flight and never more often than tallies arrive. One fallback
 * check runs `fallbackMs` after the 202 in case the counting tally raced ahead of the 202.
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
    const setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    if ((options.fallbackMs ?? 1500) > 0) {
      this.#timer = setTimer(() => {
        this.#timer = null;
        if (!this.#done && this.#checkedUpTo === this.#sinceSeq && !this.#inFlight) void this.#ask(this.#sinceSeq);
      }, options.fallbackMs ?? 1500);
    }
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
