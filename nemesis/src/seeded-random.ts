/**
 * A small seeded generator (mulberry32): the same seed gives the same fault schedule, host
 * actions and vote mix, so `--seed S` replays a run's schedule.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** In [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A generator of its own, for one lane: lanes stay independent of each other's timing. */
  fork(salt: number): SeededRandom {
    return new SeededRandom(Math.imul(this.state ^ salt, 0x9e3779b1) ^ salt);
  }
}
