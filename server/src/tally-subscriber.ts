import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import { TallyMessage, type Results } from '@livevote/contract';
import type { TallyUpdate } from './sse-hub.ts';

const count = z.number().int().nonnegative();
/**
 * Rolling upgrades, for one release: what consumers before the shared tally shape publish (`at`
 * in epoch ms instead of `updatedAt`). Read into the current shape; remove in the next release.
 * Servers are upgraded first: an older server ignores a new consumer's tallies (no `at`) and only
 * catches up on its next re-read.
 */
const LegacyTallyMessage = z
  .object({ cats: count, dogs: count, total: count, seq: count, at: count, oldestTs: count.optional() })
  .transform(({ at, ...t }): TallyMessage => ({ ...t, updatedAt: new Date(at).toISOString() }));
const AnyTallyMessage = z.union([TallyMessage, LegacyTallyMessage]);

export interface TallySubscriberOptions {
  /** A connection used for nothing but this subscription. */
  redis: Redis;
  channel: string;
  /** Reads the totals from PostgreSQL. */
  reread: () => Promise<Results>;
  onTally: (t: TallyUpdate) => void;
  logger: Logger;
}

/**
 * The process's single subscription to the tally channel. Pub/sub keeps nothing for a
 * subscriber that is away, so every time the subscription (re)starts the totals are re-read
 * from PostgreSQL: a tally published during the gap is never missed for long.
 */
export class TallySubscriber {
  private readonly o: TallySubscriberOptions;

  constructor(options: TallySubscriberOptions) {
    this.o = options;
    const { redis } = options;
    redis.on('message', (channel: string, message: string) => {
      if (channel === options.channel) this.onMessage(message);
    });
    // ioredis re-subscribes by itself after a reconnect and then emits 'ready' again.
    redis.on('ready', () => void this.resync());
  }

  async start(): Promise<void> {
    await this.o.redis.subscribe(this.o.channel);
    await this.resync();
  }

  private onMessage(message: string): void {
    let json: unknown;
    try {
      json = JSON.parse(message);
    } catch {
      json = undefined;
    }
    const parsed = AnyTallyMessage.safeParse(json);
    if (!parsed.success) {
      this.o.logger.warn('ignoring a malformed tally message');
      return;
    }
    // Already the served shape; the hub keeps `oldestTs` for its latency metric and sends `Results`.
    this.o.onTally(parsed.data);
  }

  private async resync(): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        this.o.onTally(await this.o.reread());
        return;
      } catch (err) {
        if (attempt === 0) this.o.logger.warn({ err: (err as Error).message }, 'tally re-read failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }
}
