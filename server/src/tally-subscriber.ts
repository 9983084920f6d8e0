import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { TallyMessage, type Results } from '@livevote/contract';
import type { TallyUpdate } from './sse-hub.ts';

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
    const parsed = TallyMessage.safeParse(json);
    if (!parsed.success) {
      this.o.logger.warn('ignoring a malformed tally message');
      return;
    }
    const t = parsed.data;
    this.o.onTally({
      cats: t.cats,
      dogs: t.dogs,
      total: t.total,
      seq: t.seq,
      updatedAt: new Date(t.at).toISOString(),
      oldestTs: t.oldestTs,
    });
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
