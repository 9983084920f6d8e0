import type { Logger } from 'pino';
import type { ConsumerMetrics } from './metrics.ts';
import type { TallyStore } from './tally-store.ts';
import type { StreamEntry, VoteStream } from './vote-stream.ts';

/** Clock skew allowed between Redis (entry ids) and PostgreSQL (applied_at) when pruning. */
const PRUNE_SKEW_MS = 5 * 60_000;

export interface HousekeepingOptions {
  stream: Pick<VoteStream, 'reclaim' | 'settle' | 'deliveryCounts' | 'forgetIdleConsumers' | 'trimAcknowledged' | 'oldestEntryId'>;
  store: Pick<TallyStore, 'pruneAppliedBefore'>;
  metrics: ConsumerMetrics;
  logger: Logger;
  /** Applies reclaimed entries (the same path as a batch read from the stream). */
  handle: (entries: StreamEntry[], signal: AbortSignal, deliveries: ReadonlyMap<string, number>) => Promise<void>;
  batchSize: number;
  claimIdleMs: number;
  claimEveryMs: number;
  trimEveryMs: number;
  pruneEveryMs: number;
  appliedRetentionMs: number;
  /** Consumers of the group silent this long and holding nothing are removed from it. */
  forgetConsumerAfterMs: number;
}

/**
 * The timed chores between two reads: take over entries of consumers presumed dead (and forget
 * the names of those holding nothing), trim the stream below what the group acknowledged, prune
 * applied vote IDs that can no longer come back. Each runs when its interval has passed.
 */
export class Housekeeping {
  private readonly stream: HousekeepingOptions['stream'];
  private readonly store: HousekeepingOptions['store'];
  private readonly metrics: ConsumerMetrics;
  private readonly logger: Logger;
  private readonly handle: HousekeepingOptions['handle'];
  /** Intervals, limits and retention, as configured. */
  private readonly schedule: Pick<
    HousekeepingOptions,
    'batchSize' | 'claimIdleMs' | 'claimEveryMs' | 'trimEveryMs' | 'pruneEveryMs' | 'appliedRetentionMs' | 'forgetConsumerAfterMs'
  >;
  private lastClaim = 0;
  /** Set once Redis refused the forgetting script (an ACL without EVAL): said once, then skipped. */
  private forgetRefused = false;
  private lastTrim = 0;
  private lastPrune = 0;

  constructor({ stream, store, metrics, logger, handle, ...schedule }: HousekeepingOptions) {
    this.stream = stream;
    this.store = store;
    this.metrics = metrics;
    this.logger = logger;
    this.handle = handle;
    this.schedule = schedule;
  }

  async runDue(signal: AbortSignal): Promise<void> {
    const { claimEveryMs, trimEveryMs, pruneEveryMs } = this.schedule;
    const now = Date.now();
    if (now - this.lastClaim >= claimEveryMs) {
      this.lastClaim = now;
      await this.reclaimIdle(signal);
      await this.forgetIdleConsumers();
    }
    if (now - this.lastTrim >= trimEveryMs) {
      this.lastTrim = now;
      await this.stream.trimAcknowledged();
    }
    if (now - this.lastPrune >= pruneEveryMs) {
      this.lastPrune = now;
      await this.prune();
    }
  }

  /** XAUTOCLAIM over the whole pending list; what it takes over is applied like any batch. */
  private async reclaimIdle(signal: AbortSignal): Promise<void> {
    const { claimIdleMs, batchSize } = this.schedule;
    let cursor = '0-0';
    do {
      const { next, entries, deleted } = await this.stream.reclaim(claimIdleMs, batchSize, cursor);
      // Pending entries whose data was trimmed away can never be applied; just clear them.
      await this.stream.settle({ ack: deleted, forget: [], finished: deleted });
      if (entries.length) {
        this.metrics.reclaimed.inc(entries.length);
        this.logger.info({ count: entries.length }, 'reclaimed idle entries');
        const counts = await this.stream.deliveryCounts(entries[0]!.id, entries.at(-1)!.id, entries.length);
        await this.handle(entries, signal, counts);
      }
      cursor = next;
    } while (cursor !== '0-0' && !signal.aborted);
  }

  /**
   * An ACL that does not grant the script (NOPERM) only means names pile up; there is no safe
   * way to delete a consumer without it, so the chore is skipped rather than done unsafely, and
   * the loop goes on.
   */
  private async forgetIdleConsumers(): Promise<void> {
    let forgotten: string[];
    try {
      forgotten = await this.stream.forgetIdleConsumers(this.schedule.forgetConsumerAfterMs);
    } catch (err) {
      const msg = (err as Error).message ?? String(err);
      if (!/^NOPERM/i.test(msg)) throw err;
      if (!this.forgetRefused) this.logger.warn({ err: msg }, 'Redis refused the script that removes idle consumers (grant EVAL on the stream key); not removing them');
      this.forgetRefused = true;
      return;
    }
    if (forgotten.length) this.logger.info({ consumers: forgotten }, 'removed idle consumers that held nothing');
  }

  /**
   * Applied vote IDs are kept for the retry window and for as long as the stream may still
   * re-deliver them: nothing older than the oldest entry left in the stream can come back.
   */
  private async prune(): Promise<void> {
    const oldest = await this.stream.oldestEntryId();
    let cutoff = Date.now() - this.schedule.appliedRetentionMs;
    if (oldest) cutoff = Math.min(cutoff, Number(oldest.split('-')[0]) - PRUNE_SKEW_MS);
    try {
      const removed = await this.store.pruneAppliedBefore(new Date(cutoff));
      if (removed) this.logger.info({ removed, cutoff: new Date(cutoff).toISOString() }, 'pruned applied vote ids');
    } catch (err) {
      this.metrics.errors.inc({ dependency: 'postgres' });
      this.logger.warn({ err: (err as Error).message }, 'prune failed; will retry');
    }
  }
}
