import { expect } from 'vitest';
import { castVote, type CastOutcome, type ServiceProcess } from '@livevote/harness';
export { appliedCount, pendingCount, tallyTotal } from '@livevote/harness';

/** Passwords for the project's ACL users on a drill's private Redis nodes. */
export const ACL_CREDS = { redisAdmin: 'admin-pw-0123456789', redisServer: 'server-pw-0123456789', redisConsumer: 'consumer-pw-0123456789' };

/**
 * Keyed votes cast continuously until stopped; a key answered 503 (or with no answer) is retried
 * with the same key, as the voter page does, so every key ends with exactly one counted vote.
 */
export class VotePourer {
  readonly statuses = new Map<number, number>();
  readonly accepted = new Set<string>();
  /** Keys not yet answered 202, with the option they were cast for. */
  private readonly unanswered = new Map<string, string>();
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  private n = 0;

  private readonly url: string;
  private readonly concurrency: number;
  private readonly limit: number;

  constructor(url: string, concurrency: number, limit = Number.POSITIVE_INFINITY) {
    this.url = url;
    this.concurrency = concurrency;
    this.limit = limit;
  }

  start(): void {
    this.running = Promise.all(Array.from({ length: this.concurrency }, () => this.loop())).then(() => {});
  }

  /** Stops new keys, then retries every key that never got a 202 until it does. */
  async finish(): Promise<void> {
    this.stopped = true;
    await this.running;
    for (const [key, option] of this.unanswered) {
      for (let attempt = 0; ; attempt++) {
        const o = await castVote(this.url, option, key);
        this.note(o);
        if (o.status === 202) break;
        if (attempt > 200) throw new Error(`key ${key} never accepted: last status ${o.status}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      this.accepted.add(key);
    }
    this.unanswered.clear();
  }

  get sent(): number {
    return this.n;
  }

  private note(o: CastOutcome): void {
    this.statuses.set(o.status, (this.statuses.get(o.status) ?? 0) + 1);
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.n < this.limit) {
      const key = `pour-${process.pid}-${this.n++}-${Math.random().toString(36).slice(2, 8)}`;
      const option = this.n % 3 ? 'cats' : 'dogs';
      const o = await castVote(this.url, option, key, 2000);
      this.note(o);
      if (o.status === 202) this.accepted.add(key);
      else {
        this.unanswered.set(key, option);
        // Back off as a client honouring Retry-After would, without spinning on a dead Redis.
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}

/** Starts a process that may crash before it is ready (a fault hook firing during recovery). */
export async function startMayCrash(p: ServiceProcess): Promise<void> {
  try {
    await p.start();
  } catch {
    // It exited during start-up; the caller counts exits and starts it again.
  }
}

/** Votes cast until one is refused as closed; every status seen, in order. */
export async function votesUntilClosed(cast: () => Promise<number>, message: string): Promise<number[]> {
  const statuses: number[] = [];
  await expect
    .poll(async () => {
      const s = await cast();
      statuses.push(s);
      return s;
    }, { message, timeout: 30_000, interval: 50 })
    .toBe(409);
  return statuses;
}
