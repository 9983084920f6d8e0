import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { reconnectDelay } from '@livevote/service-kit';
import type { ConsumerMetrics } from './metrics.ts';
import { TalliesRowMissingError, type AppliedTally } from './tally-store.ts';
import type { StreamEntry } from './vote-stream.ts';

/**
 * Errors that say nothing about the batch: the database is away, or misconfigured (no such
 * table, permission denied, bad credentials, migrations not run). The batch is retried with
 * backoff until they pass; only an error that can come from the data itself isolates entries
 * towards the dead-letter stream.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof TalliesRowMissingError) return true;
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? '';
  // SQLSTATE 08 connection, 28 authorization, 3D no database, 42 missing object or privilege,
  // 53 resources, 57 operator intervention (shutdown), 58 system; Node socket errors; pool timeouts.
  // The message patterns are for errors node-postgres raises without a code (connection lost,
  // pool timeout, client not queryable); none of this project's own errors is matched by text.
  return (
    /^(08|28|3D|42|53|57|58)/.test(code) ||
    /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH)$/.test(code) ||
    /terminat|Connection|connect|timeout|not queryable|closed|ECONN/i.test(e?.message ?? '')
  );
}

export interface RetryOptions {
  metrics: ConsumerMetrics;
  logger: Logger;
}

export interface RetryOutcome<T> {
  /** The entries now applied (or found already applied), in batch order. */
  applied: T[];
  /** The newest tally, if any of them changed it. */
  tally: AppliedTally | null;
}

/**
 * Applies a batch, retrying while PostgreSQL is away (never gives up on its own). A data error
 * means one entry is bad: the batch is isolated, applied one by one, and the failing entries are
 * left pending so they are re-delivered and, after MAX_DELIVERIES, dead-lettered by triage.
 * Returns null when `signal` aborts first: the batch stays pending and is re-delivered.
 */
export async function applyWithRetry<T extends { entry: StreamEntry }>(
  batch: T[],
  apply: (batch: T[]) => Promise<AppliedTally | null>,
  signal: AbortSignal,
  { metrics, logger }: RetryOptions,
): Promise<RetryOutcome<T> | null> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { applied: batch, tally: await apply(batch) };
    } catch (err) {
      metrics.errors.inc({ dependency: 'postgres' });
      if (!isTransient(err)) {
        logger.error({ err: (err as Error).message }, 'batch rejected by PostgreSQL; isolating the bad entry');
        return applyOneByOne(batch, apply, logger);
      }
      if (attempt === 1) logger.warn({ err: (err as Error).message }, 'PostgreSQL unavailable or misconfigured; retrying the batch');
      // On shutdown give up the batch unacknowledged: it stays pending and is re-delivered.
      if (signal.aborted) return null;
      await delay(reconnectDelay(attempt), undefined, { signal }).catch(() => {});
      if (signal.aborted) return null;
    }
  }
}

/**
 * Isolation: each entry in its own transaction. A rejected one is left pending; a transient
 * error stops the pass, and what follows stays pending for re-delivery too.
 */
async function applyOneByOne<T extends { entry: StreamEntry }>(
  batch: T[],
  apply: (batch: T[]) => Promise<AppliedTally | null>,
  logger: Logger,
): Promise<RetryOutcome<T>> {
  const applied: T[] = [];
  let tally: AppliedTally | null = null;
  for (const one of batch) {
    try {
      tally = (await apply([one])) ?? tally;
      applied.push(one);
    } catch (e) {
      if (isTransient(e)) break;
      logger.error({ id: one.entry.id, err: (e as Error).message }, 'entry rejected; left pending for re-delivery');
    }
  }
  return { applied, tally };
}
