import type { Logger } from 'pino';
import type { ConsumerMetrics } from './metrics.ts';
import { applyWithRetry } from './retry.ts';
import type { AppliedTally, TallyStore } from './tally-store.ts';
import { triage, type TriagedVote } from './triage.ts';
import type { StreamEntry, VoteStream } from './vote-stream.ts';

export interface BatchHandlerOptions {
  stream: Pick<VoteStream, 'deadLetter' | 'ack' | 'forget' | 'publish'>;
  /** Where batches are applied; main.ts may wrap the TallyStore with the test-only fault hooks. */
  store: Pick<TallyStore, 'applyBatch'>;
  metrics: ConsumerMetrics;
  logger: Logger;
  /**
   * An entry PostgreSQL rejects for its data (SQLSTATE 22/23) on a delivery beyond this count is
   * dead-lettered; before that it is left pending and re-delivered. Other failures never count.
   */
  maxDeliveries: number;
}

/**
 * One batch, start to finish: triage, one PostgreSQL transaction (retried, isolated on a data
 * error), then XACK, then PUBLISH. A crash anywhere before XACK means re-delivery, which the
 * applied-votes table turns into a no-op. The dead-letter decision for a poison entry is taken
 * here, right after PostgreSQL rejected that entry alone for its data: its last failure is a
 * data error by construction, so a database that is away (read-only, down, locked) however long,
 * and the delivery counts that restarts and claims run up meanwhile, never dead-letter a vote.
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
      const good = await triage(entries, deliveries, { stream: this.stream, metrics: this.metrics, logger: this.logger });
      if (good.length === 0) return;
      const result = await applyWithRetry(good, (batch) => this.apply(batch), signal, { metrics: this.metrics, logger: this.logger });
      if (!result) return;
      // Acknowledge only after COMMIT; a crash before this line means re-delivery, which is a no-op.
      await this.stream.ack(result.applied.map((g) => g.entry.id));
      await this.forgetRecords(result.applied.map((g) => g.vote.vid));
      await this.giveUpOnPoison(result.rejected);
      if (result.tally) await this.publish(result.tally, result.applied);
      this.metrics.batchDuration.observe((performance.now() - started) / 1000);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Not fatal: a record left behind expires after IDEMPOTENCY_WINDOW_SECONDS, and meanwhile a
   * retry of its key is answered from it as before.
   */
  private async forgetRecords(voteIds: string[]): Promise<void> {
    try {
      await this.stream.forget(voteIds);
    } catch (err) {
      this.metrics.errors.inc({ dependency: 'redis' });
      this.logger.warn({ err: (err as Error).message }, 'idempotency records not dropped; they expire on their own');
    }
  }

  /**
   * Entries just rejected for their data, each alone in its own transaction: one delivered more
   * than `maxDeliveries` times is copied to the dead-letter stream and acknowledged; the others
   * stay pending and come back through XAUTOCLAIM after CLAIM_IDLE_MS.
   */
  private async giveUpOnPoison(rejected: TriagedVote[]): Promise<void> {
    for (const r of rejected) {
      if (r.deliveries > this.maxDeliveries) {
        await this.stream.deadLetter(r.entry, 'max-deliveries', r.deliveries);
        this.metrics.deadLettered.inc({ reason: 'max-deliveries' });
        this.logger.warn({ id: r.entry.id, deliveries: r.deliveries }, 'entry rejected for its data too often; dead-lettered');
      } else {
        this.logger.warn({ id: r.entry.id, deliveries: r.deliveries }, 'entry rejected for its data; left pending for re-delivery');
      }
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
        round: t.round,
        voting: t.voting,
        results: t.results,
        cats: t.cats,
        dogs: t.dogs,
        total: t.cats + t.dogs,
        seq: t.seq,
        updatedAt: t.updatedAt.toISOString(),
        changedSeq: t.changedSeq,
        changedAt: t.changedAt.toISOString(),
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
