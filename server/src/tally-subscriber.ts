import { onChannelMessage, subscribeChannel, type RedisClient } from '@livevote/service-kit';
import type { Logger } from 'pino';
import { z } from 'zod';
import { TallyMessage, type RoundTally } from '@livevote/contract';
import type { TallyUpdate } from './sse-hub.ts';

/**
 * Rolling upgrades: a consumer from before rounds publishes all-time totals without a round. They
 * are not this round's numbers, so such a message only triggers a re-read of the current round.
 */
const OlderTallyMessage = z.object({ seq: z.number().int().nonnegative() });

export interface TallySubscriberOptions {
  /** A connection used for nothing but this subscription. */
  redis: RedisClient;
  channel: string;
  /**
   * Reads the totals from PostgreSQL. Must not join a query someone else started (give the
   * subscriber a reader of its own): a resync needs a query that starts after it.
   */
  reread: () => Promise<RoundTally>;
  onTally: (t: TallyUpdate) => void;
  logger: Logger;
}

/**
 * The process's single subscription to the tally channel. Pub/sub keeps nothing for a
 * subscriber that is away, so every time the subscription (re)starts the totals are re-read
 * from PostgreSQL: a tally published during the gap is never missed for long.
 *
 * The order makes that true: first Redis confirms the subscription (from then on every PUBLISH
 * reaches us), then a query starts that nobody started before (it sees every commit from before
 * the confirmation). A query begun before or during the gap may predate a tally whose PUBLISH
 * was lost; reusing it would keep that tally off the screens until the next vote.
 */
export class TallySubscriber {
  private readonly o: TallySubscriberOptions;
  /** Bumped by every resync; an older resync that is still waiting gives way to the newer. */
  private generation = 0;
  /** This subscriber's last re-read, so the next one starts only after it settled. */
  private reading: Promise<unknown> = Promise.resolve();

  constructor(options: TallySubscriberOptions) {
    this.o = options;
    const { redis } = options;
    onChannelMessage(redis, (channel, message) => {
      if (channel === options.channel) this.onMessage(message);
    });
    // ioredis emits 'ready' after a reconnect *before* it re-subscribes; resync waits for that.
    redis.on('ready', () => void this.resync());
  }

  async start(): Promise<void> {
    await subscribeChannel(this.o.redis, this.o.channel);
    await this.resync();
  }

  private onMessage(message: string): void {
    let json: unknown;
    try {
      json = JSON.parse(message);
    } catch {
      json = undefined;
    }
    const parsed = TallyMessage.safeParse(json);
    if (!parsed.success && OlderTallyMessage.safeParse(json).success) return void this.resync();
    if (!parsed.success) {
      this.o.logger.warn('ignoring a malformed tally message');
      return;
    }
    // Already the served shape; the hub keeps `oldestTs` for its latency metric and sends `Results`.
    this.o.onTally(parsed.data);
  }

  private async resync(): Promise<void> {
    const generation = ++this.generation;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        // Redis answers in order on this connection: this reply comes after ioredis's own
        // re-subscribe, once the subscription is in place (subscribing twice is harmless).
        await subscribeChannel(this.o.redis, this.o.channel);
        await this.reading.catch(() => {});
        if (generation !== this.generation) return;
        const read = this.o.reread();
        this.reading = read;
        this.o.onTally(await read);
        return;
      } catch (err) {
        if (attempt === 0) this.o.logger.warn({ err: (err as Error).message }, 'tally re-read failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }
}
