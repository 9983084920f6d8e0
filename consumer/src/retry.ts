import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { reconnectDelay } from '@livevote/service-kit';
import type { ConsumerMetrics } from './metrics.ts';
import { isDataError } from './pg-errors.ts';
import type { AppliedTally } from './tally-store.ts';
import type { StreamEntry } from './vote-stream.ts';

/**
 * Whether an error says nothing about the batch, so the batch is retried with backoff until it
 * passes: everything but a data error (SQLSTATE classes 22 and 23, see pg-errors.ts). Unknown
 * errors count as transient: a vote is never given up on because of an error nobody foresaw.
 */
export function isTransient(err: unknown): boolean {
  return !isDataError(err);
}

export interface RetryOptions {
  metrics: ConsumerMetrics;
  logger: Logger;
  /** Called once, when the batch first waits for PostgreSQL (a transient error). */
  onWait?: (() => Promise<void>) | undefined;
}

export interface RetryOutcome<T> {
  /** The entries now applied (or found already applied), in batch order. */
  applied: T[];
  /**
   * Entries PostgreSQL rejected for their data, each alone in its own transaction: the last
   * failure of each was a data error. The caller leaves them pending or dead-letters them.
   */
  rejected: T[];
  /** The newest tally, if any of them changed it. */
  tally: AppliedTally | null;
}

const STOPPED = Symbol('stopped');
type Attempt<R> = { ok: true; value: R } | { ok: false; err: unknown } | typeof STOPPED;

/** Runs `fn` until it succeeds or fails with a data error; transient errors are retried with backoff. */
async function untilSettled<R>(fn: () => Promise<R>, signal: AbortSignal, { metrics, logger, onWait }: RetryOptions, what: string): Promise<Attempt<R>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { ok: true, value: await fn() };
    } catch (err) {
      metrics.errors.inc({ dependency: 'postgres' });
      if (isDataError(err)) return { ok: false, err };
      const msg = (err as Error)?.message ?? String(err);
      const code = (err as { code?: unknown })?.code;
      if (attempt === 1) {
        logger.warn({ err: msg, code }, `PostgreSQL unavailable, read-only or misconfigured; retrying the ${what}`);
        await onWait?.();
      } else if (attempt % 100 === 0) logger.warn({ err: msg, code, attempts: attempt }, `still retrying the ${what}`);
      // On shutdown give up unacknowledged: the entries stay pending and are re-delivered.
      if (signal.aborted) return STOPPED;
      await delay(reconnectDelay(attempt), undefined, { signal }).catch(() => {});
      if (signal.aborted) return STOPPED;
    }
  }
}

/**
 * Applies a batch, retrying while PostgreSQL is away (never gives up on its own, whatever the
 * error, unless it is a data error). A data error means one entry is bad: the batch is isolated,
 * each entry applied alone (again retried through transient errors), and the ones rejected for
 * their data are returned so the caller can leave them pending or dead-letter them.
 * Returns null when `signal` aborts before the batch went through: it stays pending and is
 * re-delivered. An abort during isolation returns what was settled; the rest stays pending.
 */
export async function applyWithRetry<T extends { entry: StreamEntry }>(
  batch: T[],
  apply: (batch: T[]) => Promise<AppliedTally | null>,
  signal: AbortSignal,
  options: RetryOptions,
): Promise<RetryOutcome<T> | null> {
  const whole = await untilSettled(() => apply(batch), signal, options, 'batch');
  if (whole === STOPPED) return null;
  if (whole.ok) return { applied: batch, rejected: [], tally: whole.value };
  options.logger.error({ err: (whole.err as Error).message, code: (whole.err as { code?: unknown }).code }, 'batch rejected by PostgreSQL for its data; isolating the bad entry');
  const applied: T[] = [];
  const rejected: T[] = [];
  let tally: AppliedTally | null = null;
  for (const one of batch) {
    const r = await untilSettled(() => apply([one]), signal, options, 'entry');
    if (r === STOPPED) break;
    if (r.ok) {
      tally = r.value ?? tally;
      applied.push(one);
    } else {
      rejected.push(one);
      options.logger.error({ id: one.entry.id, err: (r.err as Error).message, code: (r.err as { code?: unknown }).code }, 'entry rejected by PostgreSQL for its data');
    }
  }
  return { applied, rejected, tally };
}
