import { setTimeout as delay } from 'node:timers/promises';
import type { RedisClient } from '@livevote/service-kit';
import type { Logger } from 'pino';
import { reconnectDelay } from '@livevote/service-kit';
import type { BatchHandler } from './batch-handler.ts';
import type { Housekeeping } from './housekeeping.ts';
import type { ConsumerMetrics } from './metrics.ts';
import type { VoteStream } from './vote-stream.ts';

export interface ReadLoopOptions {
  stream: Pick<VoteStream, 'ensureGroup' | 'read'>;
  /** Dedicated connection for the blocking XREADGROUP, so shutdown can cut a block short. */
  blockingRedis: RedisClient;
  batches: Pick<BatchHandler, 'handle' | 'busy'>;
  housekeeping: Pick<Housekeeping, 'runDue'>;
  /** Applies what this consumer name still held before it (re)started. */
  recoverPending: (signal: AbortSignal) => Promise<void>;
  metrics: ConsumerMetrics;
  logger: Logger;
  batchSize: number;
  blockMs: number;
}

/**
 * The consumer's main loop: make sure the group exists and own pending entries are done, then
 * alternate housekeeping and a blocking read of new entries, each batch handed to the batch
 * handler. Redis errors are retried with backoff forever; a lost group is recreated.
 */
export class ReadLoop {
  private readonly stream: ReadLoopOptions['stream'];
  private readonly blockingRedis: RedisClient;
  private readonly batches: ReadLoopOptions['batches'];
  private readonly housekeeping: ReadLoopOptions['housekeeping'];
  private readonly recoverPending: ReadLoopOptions['recoverPending'];
  private readonly metrics: ConsumerMetrics;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly blockMs: number;
  private failures = 0;
  /** True once the group exists and own pending entries are done; false while Redis fails. */
  ready = false;

  constructor(options: ReadLoopOptions) {
    this.stream = options.stream;
    this.blockingRedis = options.blockingRedis;
    this.batches = options.batches;
    this.housekeeping = options.housekeeping;
    this.recoverPending = options.recoverPending;
    this.metrics = options.metrics;
    this.logger = options.logger;
    this.batchSize = options.batchSize;
    this.blockMs = options.blockMs;
  }

  async run(signal: AbortSignal): Promise<void> {
    const onAbort = () => {
      // Cut a blocking read short; a batch being applied is finished by the loop first.
      if (!this.batches.busy) this.blockingRedis.disconnect();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    let started = false;
    while (!signal.aborted) {
      try {
        if (!started) {
          await this.stream.ensureGroup();
          await this.recoverPending(signal);
          started = true;
        }
        this.ready = true;
        await this.housekeeping.runDue(signal);
        if (signal.aborted) break;
        const entries = await this.stream.read(this.blockingRedis, this.batchSize, this.blockMs, '>');
        if (entries.length) await this.batches.handle(entries, signal, new Map());
        this.failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        this.ready = false;
        const msg = (err as Error).message ?? String(err);
        if (msg.includes('NOGROUP')) {
          // Redis lost the stream or group (e.g. restarted without persistence): recreate and go on.
          this.logger.warn('consumer group missing; recreating it');
          started = false;
          continue;
        }
        this.metrics.errors.inc({ dependency: 'redis' });
        this.failures++;
        if (this.failures === 1) this.logger.warn({ err: msg }, 'stream read failed; retrying with backoff');
        else this.logger.debug({ err: msg, failures: this.failures }, 'stream read failed again');
        await delay(reconnectDelay(this.failures), undefined, { signal }).catch(() => {});
      }
    }
    signal.removeEventListener('abort', onAbort);
  }
}
