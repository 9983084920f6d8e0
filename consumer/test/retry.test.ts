import { pino } from 'pino';
import { expect, it } from 'vitest';
import { createConsumerMetrics } from '../src/metrics.ts';
import { applyWithRetry, isTransient } from '../src/retry.ts';
import { TalliesRowMissingError, type AppliedTally } from '../src/tally-store.ts';

const logger = pino({ level: 'silent' });
const metrics = createConsumerMetrics(async () => ({ length: 0, pending: 0, lag: 0 }));
const pgError = (code: string) => Object.assign(new Error(`pg error ${code}`), { code });

it('retries on the database being away or misconfigured, isolates only on errors from the data', () => {
  expect(isTransient(new TalliesRowMissingError())).toBe(true);
  for (const code of ['08006', '28P01', '3D000', '42P01', '53300', '57P01', '58000', 'ECONNREFUSED']) expect(isTransient(pgError(code)), code).toBe(true);
  expect(isTransient(new Error('Connection terminated unexpectedly'))).toBe(true);
  for (const code of ['22000', '22P02', '23505']) expect(isTransient(pgError(code)), code).toBe(false);
});

it('applies a batch rejected for its data one entry at a time, leaving the bad one out', async () => {
  const tally: AppliedTally = { cats: 1, dogs: 0, seq: 1, updatedAt: new Date() };
  const batch = ['a', 'bad', 'c'].map((id) => ({ entry: { id, fields: {} } }));
  const outcome = await applyWithRetry(
    batch,
    async (b) => {
      if (b.some((x) => x.entry.id === 'bad')) throw pgError('22000');
      return tally;
    },
    new AbortController().signal,
    { metrics, logger },
  );
  expect(outcome?.applied.map((x) => x.entry.id)).toEqual(['a', 'c']);
  expect(outcome?.tally).toBe(tally);
});

it('gives a batch up unacknowledged when stopped while PostgreSQL is away', async () => {
  const stop = new AbortController();
  const outcome = await applyWithRetry(
    [{ entry: { id: 'a', fields: {} } }],
    async () => {
      stop.abort();
      throw pgError('08006');
    },
    stop.signal,
    { metrics, logger },
  );
  expect(outcome).toBeNull();
});
