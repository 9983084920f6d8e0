import { pino } from 'pino';
import { expect, it } from 'vitest';
import { BatchHandler } from '../src/batch-handler.ts';
import { createConsumerMetrics } from '../src/metrics.ts';
import type { BatchOutcome, VoteToApply } from '../src/tally-store.ts';
import type { StreamEntry } from '../src/vote-stream.ts';

const logger = pino({ level: 'silent' });
const pgError = (code: string) => Object.assign(new Error(`pg error ${code}`), { code });
const entry = (id: string): StreamEntry => ({ id, fields: { vid: `vote-${id}`, option: 'cats', ts: String(Date.now()) } });

function handler(apply: (votes: readonly VoteToApply[]) => Promise<BatchOutcome>, maxDeliveries = 2) {
  const calls = { dead: [] as { id: string; reason: string; deliveries: number }[], acked: [] as string[] };
  const h = new BatchHandler({
    stream: {
      deadLetter: async (e, reason, deliveries) => void calls.dead.push({ id: e.id, reason, deliveries }),
      settle: async ({ ack }) => {
        calls.acked.push(...ack);
        return null;
      },
      markRange: async (first) => first,
      markEntries: async () => {},
      crashesSoFar: async (ids) => ({ crashes: ids.map(() => 0), ranges: [] }),
      publish: async () => {},
    },
    store: { applyBatch: apply, isApplied: async () => false },
    metrics: createConsumerMetrics(async () => ({ length: 0, pending: 0, lag: 0 })),
    logger,
    maxDeliveries,
    maxCrashes: 3,
  });
  return { h, calls };
}

const ok = (n: number): BatchOutcome => ({ applied: n, duplicates: 0, tally: { round: 1, voting: 'open', results: 'shown', cats: n, dogs: 0, seq: 1, updatedAt: new Date(), changedSeq: 0, changedAt: new Date() } });

it('never dead-letters an entry delivered past MAX_DELIVERIES while the database is read-only: it waits for writes', async () => {
  let readOnly = 4;
  const { h, calls } = handler(async (votes) => {
    if (readOnly-- > 0) throw pgError('25006');
    return ok(votes.length);
  });
  await h.handle([entry('1-0'), entry('2-0')], new AbortController().signal, new Map([['1-0', 9], ['2-0', 9]]));
  expect(calls.dead).toEqual([]);
  expect(calls.acked).toEqual(['1-0', '2-0']);
});

it('dead-letters an entry only when PostgreSQL has just rejected it for its data on a delivery past MAX_DELIVERIES', async () => {
  const { h, calls } = handler(async (votes) => {
    if (votes.some((v) => v.vid.startsWith('vote-bad'))) throw pgError('22P02');
    return ok(votes.length);
  });
  const signal = new AbortController().signal;
  // Second delivery (not past 2): left pending.
  await h.handle([entry('1-0'), entry('bad-0')], signal, new Map([['1-0', 2], ['bad-0', 2]]));
  expect(calls.dead).toEqual([]);
  expect(calls.acked).toEqual(['1-0']);
  // Third delivery: dead-lettered with its count.
  await h.handle([entry('bad-0')], signal, new Map([['bad-0', 3]]));
  expect(calls.dead).toEqual([{ id: 'bad-0', reason: 'max-deliveries', deliveries: 3 }]);
});

it('a shutdown while the database is away gives the batch up unacknowledged and dead-letters nothing', async () => {
  const stop = new AbortController();
  const { h, calls } = handler(async () => {
    stop.abort();
    throw pgError('25006');
  });
  await h.handle([entry('1-0')], stop.signal, new Map([['1-0', 50]]));
  expect(calls).toEqual({ dead: [], acked: [] });
});
