import { pino } from 'pino';
import { expect, it } from 'vitest';
import { Housekeeping } from '../src/housekeeping.ts';
import { createConsumerMetrics } from '../src/metrics.ts';

const metrics = createConsumerMetrics(async () => ({ length: 0, pending: 0, lag: 0 }));

function housekeeping(forget: () => Promise<string[]>, warnings: string[]) {
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(String(JSON.parse(line).msg)) });
  return new Housekeeping({
    stream: {
      reclaim: async () => ({ next: '0-0', entries: [], deleted: [] }),
      settle: async () => null,
      deliveryCounts: async () => new Map(),
      forgetIdleConsumers: forget,
      trimAcknowledged: async () => 0,
      oldestEntryId: async () => null,
    },
    store: { pruneAppliedBefore: async () => 0 },
    metrics,
    logger,
    handle: async () => {},
    batchSize: 10,
    claimIdleMs: 1000,
    claimEveryMs: 0,
    trimEveryMs: 0,
    pruneEveryMs: 0,
    appliedRetentionMs: 1000,
    forgetConsumerAfterMs: 1000,
  });
}

it('skips removing idle consumers when the ACL refuses the script, says so once, and keeps the loop going', async () => {
  const warnings: string[] = [];
  let calls = 0;
  const h = housekeeping(async () => {
    calls++;
    throw new Error("NOPERM this user has no permissions to run the 'eval' command");
  }, warnings);
  const signal = new AbortController().signal;
  await expect(h.runDue(signal)).resolves.toBeUndefined();
  await expect(h.runDue(signal)).resolves.toBeUndefined();
  expect(calls).toBe(2);
  expect(warnings.filter((w) => /idle consumers/.test(w))).toHaveLength(1);
});

it('passes any other Redis error on to the read loop, which retries with backoff', async () => {
  const h = housekeeping(async () => {
    throw new Error('Connection is closed.');
  }, []);
  await expect(h.runDue(new AbortController().signal)).rejects.toThrow('Connection is closed.');
});
