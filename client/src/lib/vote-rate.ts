/**
 * Votes per second from the totals seen over a sliding window. Tallies are coalesced, so the
 * rate comes from how much the total grew, not from how many frames arrived; with no frames the
 * figure decays to 0 as the window slides past the last growth.
 */
export class VoteRate {
  #samples: { at: number; total: number }[] = [];
  readonly windowMs: number;

  constructor(windowMs = 5_000) {
    this.windowMs = windowMs;
  }

  add(total: number, at: number): void {
    const last = this.#samples.at(-1);
    if (last && total < last.total) this.#samples = []; // totals went backwards: a reset, start over
    this.#samples.push({ at, total });
    // Keep one sample older than the window as the baseline.
    while (this.#samples.length > 2 && this.#samples[1]!.at <= at - this.windowMs) this.#samples.shift();
  }

  perSecond(now: number): number {
    const s = this.#samples;
    const latest = s.at(-1);
    if (!latest || s.length < 2) return 0;
    const from = now - this.windowMs;
    // The total at the window's start: the last sample at or before it, else the oldest we have.
    let base = s[0]!;
    for (const sample of s) {
      if (sample.at <= from) base = sample;
      else break;
    }
    const growth = latest.total - base.total;
    if (growth <= 0) return 0;
    const span = Math.max(1_000, Math.min(this.windowMs, now - Math.max(base.at, from)));
    return (growth * 1000) / span;
  }
}
