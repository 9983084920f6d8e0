import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { reconnectDelay } from '@livevote/service-kit';
import type { AppliedTally, TallyStore, VoteToApply } from './tally-store.ts';
import { parseVote, type StreamEntry, type VoteStream } from './vote-stream.ts';
import type { ConsumerMetrics } from './metrics.ts';

export interface VoteConsumerOptions {
  stream: VoteStream;
  /** Dedicated connection for the blocking XREADGROUP, so shutdown can cut a block short. */
  blockingRedis: Redis;
  store: TallyStore;
  metrics: ConsumerMetrics;
  logger: Logger;
  batchSize: number;
  blockMs: number;
  claimIdleMs: number;
  claimEveryMs: number;
  maxDeliveries: number;
  trimEveryMs: number;
  pruneEveryMs: number;
  appliedRetentionMs: number;
  /** Consumers of the group silent this long and holding nothing are removed from it. */
  forgetConsumerAfterMs: number;
  /** Test-only: probability of exiting right after COMMIT, before XACK. */
  faultExitAfterCommit?: number;
  /** Test-only: batches holding a vote ID with this prefix fail as a data error would. */
  faultRejectVidPrefix?: string | undefined;
}

/** Clock skew allowed between Redis (entry ids) and PostgreSQL (applied_at) when pruning. */
const PRUNE_SKEW_MS = 5 * 60_000;

/**
 * Errors that say nothing about the batch: the database is away, or misconfigured (no such
 * table, permission denied, bad credentials). The batch is retried with backoff until they pass;
 * only an error that can come from the data itself isolates entries towards the dead-letter stream.
 */
function isTransient(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? '';
  // SQLSTATE 08 connection, 28 authorization, 3D no database, 42 missing object or privilege,
  // 53 resources, 57 operator intervention (shutdown), 58 system; Node socket errors; pool timeouts.
  return (
    /^(08|28|3D|42|53|57|58)/.test(code) ||
    /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH)$/.test(code) ||
    /terminat|Connection|connect|timeout|not queryable|closed|ECONN|tallies row is missing/i.test(e?.message ?? '')
  );
}

/**
 * Reads votes from the stream in batches and makes their effect exactly-once: one PostgreSQL
 * transaction per batch (see TallyStore), then XACK, then PUBLISH. A crash anywhere before XACK
 * means re-delivery, which the applied-votes table turns into a no-op.
 */
export class VoteConsumer {
  private readonly o: VoteConsumerOptions;
  private lastClaim = 0;
  private lastTrim = 0;
  private lastPrune = 0;
  private failures = 0;
  /** True while a batch is between read and XACK; shutdown waits for it. */
  busy = false;
  ready = false;

  constructor(options: VoteConsumerOptions) {
    this.o = options;
  }

  async run(signal: AbortSignal): Promise<void> {
    const onAbort = () => {
      // Cut a blocking read short; a batch being applied is finished by the loop first.
      if (!this.busy) this.o.blockingRedis.disconnect();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    let started = false;
    while (!signal.aborted) {
      try {
        if (!started) {
          await this.o.stream.ensureGroup();
          await this.finishOwnPending(signal);
          started = true;
        }
        this.ready = true;
        await this.housekeeping(signal);
        if (signal.aborted) break;
        const entries = await this.o.stream.read(this.o.blockingRedis, this.o.batchSize, this.o.blockMs, '>');
        if (entries.length) await this.handle(entries, signal, new Map());
        this.failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        this.ready = false;
        const msg = (err as Error).message ?? String(err);
        if (msg.includes('NOGROUP')) {
          // Redis lost the stream or group (e.g. restarted without persistence): recreate and go on.
          this.o.logger.warn('consumer group missing; recreating it');
          started = false;
          continue;
        }
        this.o.metrics.errors.inc({ dependency: 'redis' });
        this.failures++;
        if (this.failures === 1) this.o.logger.warn({ err: msg }, 'stream read failed; retrying with backoff');
        else this.o.logger.debug({ err: msg, failures: this.failures }, 'stream read failed again');
        await delay(reconnectDelay(this.failures), undefined, { signal }).catch(() => {});
      }
    }
    signal.removeEventListener('abort', onAbort);
  }

  /** On start: entries delivered to this consumer name before a crash are applied first. */
  private async finishOwnPending(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) return;
      const entries = await this.o.stream.read(this.o.blockingRedis, this.o.batchSize, 0, '0');
      if (entries.length === 0) return;
      const counts = await this.o.stream.deliveryCounts(entries[0]!.id, entries.at(-1)!.id, entries.length);
      const before = entries.length;
      await this.handle(entries, signal, counts);
      if (before < this.o.batchSize) return;
    }
  }

  private async housekeeping(signal: AbortSignal): Promise<void> {
    const now = Date.now();
    if (now - this.lastClaim >= this.o.claimEveryMs) {
      this.lastClaim = now;
      let cursor = '0-0';
      do {
        const { next, entries, deleted } = await this.o.stream.reclaim(this.o.claimIdleMs, this.o.batchSize, cursor);
        // Pending entries whose data was trimmed away can never be applied; just clear them.
        await this.o.stream.ack(deleted);
        if (entries.length) {
          this.o.metrics.reclaimed.inc(entries.length);
          this.o.logger.info({ count: entries.length }, 'reclaimed idle entries');
          const counts = await this.o.stream.deliveryCounts(entries[0]!.id, entries.at(-1)!.id, entries.length);
          await this.handle(entries, signal, counts);
        }
        cursor = next;
      } while (cursor !== '0-0' && !signal.aborted);
      const forgotten = await this.o.stream.forgetIdleConsumers(this.o.forgetConsumerAfterMs);
      if (forgotten.length) this.o.logger.info({ consumers: forgotten }, 'removed idle consumers that held nothing');
    }
    if (now - this.lastTrim >= this.o.trimEveryMs) {
      this.lastTrim = now;
      await this.o.stream.trimAcknowledged();
    }
    if (now - this.lastPrune >= this.o.pruneEveryMs) {
      this.lastPrune = now;
      await this.prune();
    }
  }

  /**
   * Applied vote IDs are kept for the retry window and for as long as the stream may still
   * re-deliver them: nothing older than the oldest entry left in the stream can come back.
   */
  private async prune(): Promise<void> {
    const oldest = await this.o.stream.oldestEntryId();
    let cutoff = Date.now() - this.o.appliedRetentionMs;
    if (oldest) cutoff = Math.min(cutoff, Number(oldest.split('-')[0]) - PRUNE_SKEW_MS);
    try {
      const removed = await this.o.store.pruneAppliedBefore(new Date(cutoff));
      if (removed) this.o.logger.info({ removed, cutoff: new Date(cutoff).toISOString() }, 'pruned applied vote ids');
    } catch (err) {
      this.o.metrics.errors.inc({ dependency: 'postgres' });
      this.o.logger.warn({ err: (err as Error).message }, 'prune failed; will retry');
    }
  }

  private async handle(entries: StreamEntry[], signal: AbortSignal, deliveries: Map<string, number>): Promise<void> {
    this.busy = true;
    const started = performance.now();
    try {
      this.o.metrics.batchSize.observe(entries.length);
      const good: { entry: StreamEntry; vote: VoteToApply; ts: number }[] = [];
      for (const entry of entries) {
        const n = deliveries.get(entry.id) ?? 1;
        const vote = parseVote(entry);
        if (!vote) {
          await this.o.stream.deadLetter(entry, 'invalid', n);
          this.o.metrics.deadLettered.inc({ reason: 'invalid' });
          this.o.logger.warn({ id: entry.id }, 'invalid entry dead-lettered');
        } else if (n > this.o.maxDeliveries) {
          await this.o.stream.deadLetter(entry, 'max-deliveries', n);
          this.o.metrics.deadLettered.inc({ reason: 'max-deliveries' });
          this.o.logger.warn({ id: entry.id, deliveries: n }, 'entry dead-lettered after too many deliveries');
        } else {
          good.push({ entry, vote: { vid: vote.vid, option: vote.option }, ts: Number(vote.ts) });
        }
      }
      if (good.length === 0) return;
      const result = await this.applyWithRetry(good, signal);
      if (!result) return;
      // Acknowledge only after COMMIT; a crash before this line means re-delivery, which is a no-op.
      await this.o.stream.ack(result.applied.map((g) => g.entry.id));
      if (result.tally) await this.publish(result.tally, result.applied);
      this.o.metrics.batchDuration.observe((performance.now() - started) / 1000);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Retries the batch while PostgreSQL is away (never exits). A data error means one entry is
   * bad: apply one by one, leaving the failing ones pending so they are re-delivered and, after
   * MAX_DELIVERIES, dead-lettered. Returns the entries now applied (or found already applied)
   * and the newest tally, if any of them changed it.
   */
  private async applyWithRetry<T extends { entry: StreamEntry; vote: VoteToApply; ts: number }>(
    batch: T[],
    signal: AbortSignal,
  ): Promise<{ applied: T[]; tally: AppliedTally | null } | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        return { applied: batch, tally: await this.apply(batch) };
      } catch (err) {
        this.o.metrics.errors.inc({ dependency: 'postgres' });
        if (!isTransient(err)) {
          this.o.logger.error({ err: (err as Error).message }, 'batch rejected by PostgreSQL; isolating the bad entry');
          const applied: T[] = [];
          let tally: AppliedTally | null = null;
          for (const one of batch) {
            try {
              tally = (await this.apply([one])) ?? tally;
              applied.push(one);
            } catch (e) {
              if (isTransient(e)) break;
              this.o.logger.error({ id: one.entry.id, err: (e as Error).message }, 'entry rejected; left pending for re-delivery');
            }
          }
          return { applied, tally };
        }
        if (attempt === 1) this.o.logger.warn({ err: (err as Error).message }, 'PostgreSQL unavailable or misconfigured; retrying the batch');
        // On shutdown give up the batch unacknowledged: it stays pending and is re-delivered.
        if (signal.aborted) return null;
        await delay(reconnectDelay(attempt), undefined, { signal }).catch(() => {});
        if (signal.aborted) return null;
      }
    }
  }

  private async apply(batch: { vote: VoteToApply }[]): Promise<AppliedTally | null> {
    const poison = this.o.faultRejectVidPrefix;
    if (poison && batch.some((b) => b.vote.vid.startsWith(poison))) {
      throw Object.assign(new Error('fault hook: poison vote rejected'), { code: '22000' });
    }
    const outcome = await this.o.store.applyBatch(batch.map((b) => b.vote));
    if (this.o.faultExitAfterCommit && Math.random() < this.o.faultExitAfterCommit) {
      this.o.logger.warn('fault hook: exiting between COMMIT and XACK');
      process.exit(86);
    }
    this.o.metrics.applied.inc(outcome.applied);
    this.o.metrics.duplicates.inc(outcome.duplicates);
    return outcome.tally;
  }

  /** A batch of only duplicates has no tally and publishes nothing: no change, no frame. */
  private async publish(t: AppliedTally, batch: { ts: number }[]): Promise<void> {
    const oldestTs = batch.reduce((m, b) => Math.min(m, b.ts), Number.POSITIVE_INFINITY);
    try {
      await this.o.stream.publish({
        cats: t.cats,
        dogs: t.dogs,
        total: t.cats + t.dogs,
        seq: t.seq,
        at: t.updatedAt.getTime(),
        ...(Number.isFinite(oldestTs) ? { oldestTs } : {}),
      });
      this.o.metrics.published.inc();
    } catch (err) {
      // Not fatal: servers re-read PostgreSQL whenever their subscription restarts.
      this.o.metrics.errors.inc({ dependency: 'redis' });
      this.o.logger.warn({ err: (err as Error).message }, 'publish failed');
    }
  }
}
