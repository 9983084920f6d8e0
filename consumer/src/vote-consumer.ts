import type { RedisClient } from '@livevote/service-kit';
import type { Logger } from 'pino';
import { BatchHandler } from './batch-handler.ts';
import { Housekeeping } from './housekeeping.ts';
import type { ConsumerMetrics } from './metrics.ts';
import { finishOwnPending } from './pending-recovery.ts';
import { ReadLoop } from './read-loop.ts';
import type { TallyStore } from './tally-store.ts';
import type { VoteStream } from './vote-stream.ts';

export interface VoteConsumerOptions {
  stream: VoteStream;
  /** Dedicated connection for the blocking XREADGROUP, so shutdown can cut a block short. */
  blockingRedis: RedisClient;
  store: Pick<TallyStore, 'applyBatch' | 'isApplied' | 'pruneAppliedBefore'>;
  metrics: ConsumerMetrics;
  logger: Logger;
  batchSize: number;
  blockMs: number;
  claimIdleMs: number;
  claimEveryMs: number;
  maxDeliveries: number;
  maxCrashes: number;
  trimEveryMs: number;
  pruneEveryMs: number;
  appliedRetentionMs: number;
  /** Consumers of the group silent this long and holding nothing are removed from it. */
  forgetConsumerAfterMs: number;
}

/**
 * Reads votes from the stream in batches and makes their effect exactly-once: one PostgreSQL
 * transaction per batch, then XACK, then PUBLISH. Puts together the parts, each in its module:
 * the read loop (read-loop.ts), recovery of its own pending entries (pending-recovery.ts), timed
 * housekeeping (housekeeping.ts), and per batch triage and dead-lettering (triage.ts) and retry
 * and isolation (retry.ts), run by the batch handler (batch-handler.ts).
 */
export class VoteConsumer {
  private readonly loop: ReadLoop;

  constructor(options: VoteConsumerOptions) {
    const { stream, blockingRedis, store, metrics, logger, batchSize } = options;
    const batches = new BatchHandler({ stream, store, metrics, logger, maxDeliveries: options.maxDeliveries, maxCrashes: options.maxCrashes });
    const handle = batches.handle.bind(batches);
    const housekeeping = new Housekeeping({
      stream,
      store,
      metrics,
      logger,
      handle,
      batchSize,
      claimIdleMs: options.claimIdleMs,
      claimEveryMs: options.claimEveryMs,
      trimEveryMs: options.trimEveryMs,
      pruneEveryMs: options.pruneEveryMs,
      appliedRetentionMs: options.appliedRetentionMs,
      forgetConsumerAfterMs: options.forgetConsumerAfterMs,
    });
    this.loop = new ReadLoop({
      stream,
      blockingRedis,
      batches,
      housekeeping,
      recoverPending: (signal) => finishOwnPending({ stream, blockingRedis, batchSize, handle }, signal),
      metrics,
      logger,
      batchSize,
      blockMs: options.blockMs,
    });
  }

  /** Whether the loop is reading (group in place, own pending entries done, Redis answering). */
  get ready(): boolean {
    return this.loop.ready;
  }

  run(signal: AbortSignal): Promise<void> {
    return this.loop.run(signal);
  }
}
