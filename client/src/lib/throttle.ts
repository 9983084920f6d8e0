/**
 * Throttles what a polite aria-live region says: the first value is spoken at once, later ones at
 * most every `intervalMs`, and only the latest of a burst (screen readers would queue every frame).
 */
export class ThrottledAnnouncer {
  #last = '';
  #lastAt = -Infinity;
  #pending: string | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  readonly intervalMs: number;
  readonly #emit: (text: string) => void;
  readonly #now: () => number;

  constructor(emit: (text: string) => void, intervalMs = 5_000, now: () => number = () => Date.now()) {
    this.#emit = emit;
    this.intervalMs = intervalMs;
    this.#now = now;
  }

  push(text: string): void {
    if (text === this.#last && this.#pending === null) return;
    const now = this.#now();
    const due = this.#lastAt + this.intervalMs;
    if (now >= due && this.#timer === null) {
      this.#say(text, now);
      return;
    }
    this.#pending = text;
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      const p = this.#pending;
      this.#pending = null;
      if (p !== null && p !== this.#last) this.#say(p, this.#now());
    }, Math.max(0, due - now));
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending = null;
  }

  #say(text: string, now: number): void {
    this.#last = text;
    this.#lastAt = now;
    this.#emit(text);
  }
}
