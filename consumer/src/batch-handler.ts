import type { Logger } from 'pino';
import type { ConsumerMetrics } from './metrics.ts';
import { applyWithRetry } from './retry.ts';
import type { AppliedTally, TallyStore } from './tally-store.ts';
import { triage, type TriagedVote } from './triage.ts';
import type { StreamEntry, VoteStream } from './vote-stream.ts';

export interface BatchHandlerOptions {
  stream: Pick<VoteStream, 'deadLetter' | 'settle' | 'markRange' | 'markEntries' | 'crashesSoFar' | 'publish'>;
  /** Where batches are applied; main.ts may wrap the TallyStore with the test-only fault hooks. */
  store: Pick<TallyStore, 'applyBatch' | 'isApplied'>;
  metrics: ConsumerMetrics;
  logger: Logger;
  /**
   * An entry PostgreSQL rejects for its data (SQLSTATE 22/23) on a delivery beyond this count is
   * dead-lettered; before that it is left pending and re-delivered. Other failures never count.
   */
  maxDeliveries: number;
  /**
   * An entry that crashed this many attempts at it alone (the process died, or the handler threw
   * outside PostgreSQL) is dead-lettered instead of tried again (MAX_CRASHES).
   */
  maxCrashes: number;
}

/**
 * One batch, start to finish: triage, one PostgreSQL transaction (retried, isolated on a data
 * error), then XACK, then PUBLISH. A crash anywhere before XACK means re-delivery, which the
 * applied-votes table turns into a no-op. The dead-letter decision for a poison entry is taken
 * here, right after PostgreSQL rejected that entry alone for its data: its last failure is a
 * data error by construction, so a database that is away (read-only, down, locked) however long,
 * and the delivery counts that restarts and claims run up meanwhile, never dead-letter a vote.
 *
 * An entry can also kill the consumer outside PostgreSQL (a bug, a value no parser expected),
 * and then every restart would meet it again. So each batch marks its entries in Redis with the
 * consumer's name before it runs, and clears the marks when it ends, however it ends, unless the
 * process died or the code threw on the way. An entry that comes back to the same consumer name
 * with its mark still there has crashed it once more: it is a suspect, and suspects run one at a
 * time, in order, each marked only when its turn comes, so only the entry that kills the process
 * collects crashes. At `maxCrashes` it is dead-lettered (`reason` crashed), unless PostgreSQL
 * already holds its vote (the crash came after the COMMIT), and the entries behind it flow on.
 */
export class BatchHandler {
  private readonly stream: BatchHandlerOptions['stream'];
  private readonly store: BatchHandlerOptions['store'];
  private readonly metrics: ConsumerMetrics;
  private readonly logger: Logger;
  private readonly maxDeliveries: number;
  private readonly maxCrashes: number;
  /** True while a batch is between read and XACK; shutdown waits for it. */
  busy = false;

  constructor({ stream, store, metrics, logger, maxDeliveries, maxCrashes }: BatchHandlerOptions) {
    this.stream = stream;
    this.store = store;
    this.metrics = metrics;
    this.logger = logger;
    this.maxDeliveries = maxDeliveries;
    this.maxCrashes = maxCrashes;
  }

  /** `deliveries` holds known delivery counts (re-read or reclaimed entries); new entries are on their first. */
  async handle(entries: StreamEntry[], signal: AbortSignal, deliveries: ReadonlyMap<string, number>): Promise<void> {
    this.busy = true;
    try {
      if (deliveries.size === 0) {
        // Read for the first time: in no batch yet, one range mark covers them all.
        const mark = entries.length ? await this.marked(() => this.stream.markRange(entries[0]!.id, entries.at(-1)!.id)) : null;
        await this.run(entries, signal, deliveries, mark ? [mark] : []);
        return;
      }
      const { crashes, ranges } = (await this.marked(() => this.stream.crashesSoFar(entries.map((e) => e.id)))) ?? { crashes: [], ranges: [] };
      const fresh = entries.filter((_, i) => !crashes[i]);
      const suspects = entries.flatMap((entry, i) => (crashes[i] ? [{ entry, crashes: crashes[i] }] : []));
      // Marks of their own, before anything runs: suspects lose their owner, so that a crash of
      // the others does not count against them.
      await this.marked(() =>
        this.stream.markEntries([...fresh.map((e) => ({ id: e.id, crashes: 0, attempting: true })), ...suspects.map((s) => ({ id: s.entry.id, crashes: s.crashes, attempting: false }))], ranges),
      );
      if (fresh.length) await this.run(fresh, signal, deliveries, fresh.map((e) => e.id));
      for (const s of suspects) {
        if (signal.aborted) return;
        await this.runSuspect(s.entry, s.crashes, signal, deliveries);
      }
    } finally {
      this.busy = false;
    }
  }

  private async runSuspect(entry: StreamEntry, crashes: number, signal: AbortSignal, deliveries: ReadonlyMap<string, number>): Promise<void> {
    if (crashes < this.maxCrashes) {
      await this.marked(() => this.stream.markEntries([{ id: entry.id, crashes, attempting: true }]));
      return this.run([entry], signal, deliveries, [entry.id]);
    }
    const vid = entry.fields.vid;
    let applied: boolean;
    try {
      applied = vid !== undefined && (await this.store.isApplied(vid));
    } catch (err) {
      // Given up on only once PostgreSQL says the vote is not there; until then it stays pending.
      this.metrics.errors.inc({ dependency: 'postgres' });
      this.logger.warn({ id: entry.id, crashes, err: (err as Error).message }, 'entry crashed the consumer before; PostgreSQL not answering, left pending');
      return;
    }
    if (applied) {
      await this.settle([entry.id], vid ? [vid] : [], [entry.id]);
      return;
    }
    await this.stream.deadLetter(entry, 'crashed', deliveries.get(entry.id) ?? 1, { crashes: String(crashes) });
    this.metrics.deadLettered.inc({ reason: 'crashed' });
    this.logger.error({ id: entry.id, vid, crashes }, 'entry crashed the consumer too often; dead-lettered, kept for replay');
  }

  /**
   * Best effort: a Redis at `maxmemory` refuses the HSET (OOM) but still takes what drains it
   * (XREADGROUP, XACK, XTRIM, UNLINK), so the batch runs unmarked rather than not at all. A
   * crash during it is then not counted; the next batch is marked again.
   */
  private async marked<T>(step: () => Promise<T>): Promise<T | null> {
    try {
      return await step();
    } catch (err) {
      this.metrics.errors.inc({ dependency: 'redis' });
      this.logger.warn({ err: (err as Error).message }, 'attempt marks not read or written (Redis full?); the batch runs unmarked');
      return null;
    }
  }

  /** A batch under the marks `marks`: every way out but a throw (or a death) clears them. */
  private async run(entries: StreamEntry[], signal: AbortSignal, deliveries: ReadonlyMap<string, number>, marks: string[]): Promise<void> {
    const started = performance.now();
    this.metrics.batchSize.observe(entries.length);
    const good = await triage(entries, deliveries, { stream: this.stream, metrics: this.metrics, logger: this.logger });
    if (good.length === 0) return;
    // A process killed while it waits for the database is not the entries' fault: no marks then.
    const onWait = () => this.settle([], [], marks);
    const result = await applyWithRetry(good, (batch) => this.apply(batch), signal, { metrics: this.metrics, logger: this.logger, onWait });
    if (!result) {
      // Stopped while the database is away: pending, re-delivered later; no crash to count.
      await this.settle([], [], marks);
      return;
    }
    // Acknowledge only after COMMIT; a crash before this line means re-delivery, which is a no-op.
    await this.settle(result.applied.map((g) => g.entry.id), result.applied.map((g) => g.vote.vid), marks);
    await this.giveUpOnPoison(result.rejected);
    if (result.tally) await this.publish(result.tally, result.applied);
    this.metrics.batchDuration.observe((performance.now() - started) / 1000);
  }

  /**
   * XACK first, then the idempotency records and the marks, in one round trip. A record left
   * behind is not fatal: it expires after IDEMPOTENCY_WINDOW_SECONDS, and meanwhile a retry of its
   * key is answered from it as before; a mark left on an acknowledged entry is never read again.
   */
  private async settle(ack: string[], forget: string[], finished: string[]): Promise<void> {
    const err = await this.stream.settle({ ack, forget, finished });
    if (err) {
      this.metrics.errors.inc({ dependency: 'redis' });
      this.logger.warn({ err: err.message }, 'idempotency records or attempt marks not cleared (the records expire on their own)');
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
