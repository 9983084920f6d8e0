import type { RedisClient } from '@livevote/service-kit';

export interface WatcherCountOptions {
  redis: RedisClient;
  /** The hash every server reports into. */
  key: string;
  /** This process's field in it. */
  instance: string;
  /** This process's open streams. */
  local: () => number;
  /** How often this process reports; a report holds for three of these. */
  everyMs: number;
}

/**
 * How many screens watch, over every server process: each reports its own count into one Redis
 * hash with an expiry time, and the total is the sum of the reports that have not expired. A
 * process that died stops counting after three periods; its field is removed by the next reader.
 */
export class WatcherCount {
  private readonly options: WatcherCountOptions;
  private timer: NodeJS.Timeout | null = null;
  private cached: { at: number; total: number } | null = null;

  constructor(options: WatcherCountOptions) {
    this.options = options;
  }

  start(): void {
    const report = () => void this.report().catch(() => {});
    report();
    this.timer = setInterval(report, this.options.everyMs);
    this.timer.unref();
  }

  async report(): Promise<void> {
    const { redis, key, instance, local, everyMs } = this.options;
    await redis.hset(key, instance, `${local()}:${Date.now() + 3 * everyMs}`);
  }

  /** The sum over live reports, at most one Redis read per second per process. */
  async total(): Promise<number> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < 1000) return this.cached.total;
    const all = await this.options.redis.hgetall(this.options.key);
    let total = 0;
    const expired: string[] = [];
    for (const [field, value] of Object.entries(all)) {
      const [count, until] = value.split(':').map(Number);
      if (Number.isSafeInteger(count) && Number.isSafeInteger(until) && (until as number) > now) total += count as number;
      else expired.push(field);
    }
    if (expired.length) void this.options.redis.hdel(this.options.key, ...expired).catch(() => {});
    this.cached = { at: now, total };
    return total;
  }

  /** Shutdown: this process's screens no longer count. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.options.redis.hdel(this.options.key, this.options.instance).catch(() => {});
  }
}
