import type { Logger } from 'pino';
import type { ConsumerMetrics } from './metrics.ts';
import { applyWithRetry } from './retry.ts';
import type { AppliedTally, TallyStore } from './tally-store.ts';
import { triage, type TriagedVote } from './triage.ts';
import type { StreamEntry, VoteStream } from './vote-stream.ts';

export interface BatchHandlerOptions {
  stream: Pick<VoteStream, 'deadLetter' | 'ack' | 'publish'>;
  /** Where batches are applied; main.ts may wrap the TallyStore with the test-only fault hooks. */
  store: Pick<TallyStore, 'applyBatch'>;
  metrics: ConsumerMetrics;
  logger: Logger;
  maxDeliveries: number;
}

/**
 * One batch, start to finish: triage, one PostgreSQL transaction (retried, isolated on a data
 * error), then XACK, then PUBLISH. A crash anywhere before XACK means re-delivery, which the
 * applied-votes table turns into a no-op.
 */
export class BatchHandler {
  private readonly stream: BatchHandlerOptions['stream'];
  private readonly store: BatchHandlerOptions['store'];
  private readonly metrics: ConsumerMetrics;
  private readonly logger: Logger;
  private readonly maxDeliveries: number;
  /** True while a batch is between read and XACK; shutdown waits for it. */
  busy = false;

  constructor({ stream, store, metrics, logger, maxDeliveries }: BatchHandlerOptions) {
    this.stream = stream;
    this.store = store;
    this.metrics = metrics;
    this.logger = logger;
    this.maxDeliveries = maxDeliveries;
  }

  /** `deliveries` holds known delivery counts (re-read or reclaimed entries); new entries are on their first. */
  async handle(entries: StreamEntry[], signal: AbortSignal, deliveries: ReadonlyMap<string, number>): Promise<void> {
    this.busy = true;
    const started = performance.now();
    try {
      this.metrics.batchSize.observe(entries.length);
      const good = await triage(entries, deliveries, {
        stream: this.stream,
        metrics: this.metrics,
        logger: this.logger,
        maxDeliveries: this.maxDeliveries,
      });
      if (good.length === 0) return;
      const result = await applyWithRetry(good, (batch) => this.apply(batch), signal, { metrics: this.metrics, logger: this.logger });
      if (!result) return;
      // Acknowledge only after COMMIT; a crash before this line means re-delivery, which is a no-op.
      await this.stream.ack(result.applied.map((g) => g.entry.id));
      if (result.tally) await this.publish(result.tally, result.applied);
      this.metrics.batchDuration.observe((performance.now() - started) / 1000);
    } finally {
      this.busy = false;
    }
  }

  private async apply(batch: TriagedVote[]): Promise<AppliedTally | null> {
    const outcome = await this.store.applyBatch(batch.map((b) => b.vote));
    this.metrics.applied.inc(outcome.applied);
    this.metrics.duplicates.inc(outcome.duplicates);
    return outcome.tally;
  }

  /**
   * Publishes the totals in the shape the server serves them (`Results`), plus the receive time
   * of the batch's oldest vote for the server's vote-to-frame latency. A batch of only duplicates
   * has no tally and publishes nothing: no change, no frame.
   */
  private async publish(t: AppliedTally, batch: TriagedVote[]): Promise<void> {
    const oldestTs = batch.reduce((m, b) => Math.min(m, b.ts), Number.POSITIVE_INFINITY);
    try {
      await this.stream.publish({
        cats: t.cats,
        dogs: t.dogs,
        total: t.cats + t.dogs,
        seq: t.seq,
        updatedAt: t.updatedAt.toISOString(),
        ...(Number.isFinite(oldestTs) ? { oldestTs } : {}),
      });
      this.metrics.published.inc();
    } catch (err) {
      // Not fatal: servers re-read PostgreSQL whenever their subscription restarts.
      this.metrics.errors.inc({ dependency: 'redis' });
      this.logger.warn({ err: (err as Error).message }, 'publish failed');
    }
  }
}
