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

it('treats only SQLSTATE classes 22 and 23 as the data\'s fault; anything else, known or not, is the database being away', () => {
  // 22 data exception, 23 integrity constraint violation: these, and only these, isolate entries.
  for (const code of ['22000', '22001', '22003', '22007', '22P02', '23000', '23502', '23503', '23505', '23514', '23P01']) {
    expect(isTransient(pgError(code)), code).toBe(false);
  }
  // 25006 read-only transaction (standby, failover, disk-full mode, default_transaction_read_only),
  // 40001 serialization, 40P01 deadlock, 55P03 lock not available, 57P01 admin shutdown,
  // 53300 too many connections, 08006 connection failure, 57014 statement timeout, 25P02 aborted
  // transaction, XX000 internal error, a code nobody has seen yet.
  for (const code of ['25006', '40001', '40P01', '55P03', '57P01', '53300', '08006', '57014', '25P02', 'XX000', '99ZZZ', '2200', '230000']) {
    expect(isTransient(pgError(code)), code).toBe(true);
  }
  expect(isTransient(new Error('something nobody anticipated')), 'an Error without a code').toBe(true);
  expect(isTransient(new TypeError("Cannot read properties of undefined (reading 'rows')")), 'a TypeError').toBe(true);
  expect(isTransient(Object.assign(new Error('timeout exceeded when trying to connect'), { code: undefined })), 'a pool timeout').toBe(true);
  expect(isTransient(undefined), 'undefined').toBe(true);
  expect(isTransient('a string'), 'a string').toBe(true);
  expect(isTransient({ code: 22000 }), 'a numeric code is not a SQLSTATE').toBe(true);
});

it('keeps retrying a read-only database (25006) instead of isolating the batch, until it takes writes again', async () => {
  const tally: AppliedTally = { round: 1, voting: 'open', results: 'shown', cats: 2, dogs: 0, seq: 1, updatedAt: new Date(), changedSeq: 0, changedAt: new Date() };
  const batch = ['a', 'b'].map((id) => ({ entry: { id, fields: {} } }));
  const calls: number[] = [];
  const outcome = await applyWithRetry(
    batch,
    async (b) => {
      calls.push(b.length);
      if (calls.length <= 3) throw pgError('25006');
      return tally;
    },
    new AbortController().signal,
    { metrics, logger },
  );
  // The whole batch each time: never split into single entries, never given up on.
  expect(calls).toEqual([2, 2, 2, 2]);
  expect(outcome?.applied.map((x) => x.entry.id)).toEqual(['a', 'b']);
  expect(outcome?.rejected ?? []).toEqual([]);
});

it('retries a single entry through a transient error during isolation, and reports the ones rejected for their data', async () => {
  const tally: AppliedTally = { round: 1, voting: 'open', results: 'shown', cats: 1, dogs: 0, seq: 1, updatedAt: new Date(), changedSeq: 0, changedAt: new Date() };
  const batch = ['a', 'bad', 'c'].map((id) => ({ entry: { id, fields: {} } }));
  let flaky = 2;
  const outcome = await applyWithRetry(
    batch,
    async (b) => {
      if (b.some((x) => x.entry.id === 'bad')) throw pgError('23514');
      if (b.length === 1 && b[0]!.entry.id === 'c' && flaky-- > 0) throw pgError('40001');
      return tally;
    },
    new AbortController().signal,
    { metrics, logger },
  );
  expect(outcome?.applied.map((x) => x.entry.id)).toEqual(['a', 'c']);
  expect(outcome?.rejected.map((x) => x.entry.id)).toEqual(['bad']);
});

it('applies a batch rejected for its data one entry at a time, leaving the bad one out', async () => {
  const tally: AppliedTally = { round: 1, voting: 'open', results: 'shown', cats: 1, dogs: 0, seq: 1, updatedAt: new Date(), changedSeq: 0, changedAt: new Date() };
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
