import pg from 'pg';
import { expect, it } from 'vitest';
import { freePort } from '@livevote/harness';
import { TallyReader } from '../src/tally-reader.ts';
import { publicResults } from '../src/results-view.ts';

/** A pool whose next query answers the tally row, fails, or never answers. */
function fakePool() {
  let mode: 'ok' | 'fail' | 'hang' = 'ok';
  let row = { cats: '1', dogs: '2', seq: '3', updated_at: new Date('2026-01-01T00:00:00Z'), change_tally_seq: '2', changed_at: new Date('2025-12-31T23:59:00Z') };
  const pool = {
    query: () =>
      mode === 'ok' ? Promise.resolve({ rows: [row] }) : mode === 'fail' ? Promise.reject(new Error('connection refused')) : new Promise(() => {}),
  } as unknown as pg.Pool;
  return { pool, set: (m: typeof mode) => (mode = m), row: (r: Partial<typeof row>) => (row = { ...row, ...r }) };
}

it('serves the last known tally, marked stale, when PostgreSQL fails or hangs; throws when none is known', async () => {
  const db = fakePool();
  const reader = new TallyReader(db.pool, { cacheMs: 0, staleAfterMs: 50, retryAfterFailureMs: 0 });
  db.set('fail');
  await expect(reader.read()).rejects.toThrow(/connection refused/);

  db.set('ok');
  expect(await reader.read()).toEqual({ value: { cats: 1, dogs: 2, total: 3, seq: 3, updatedAt: '2026-01-01T00:00:00.000Z', changedSeq: 2, changedAt: '2025-12-31T23:59:00.000Z' }, stale: false, ageSeconds: 0 });
  db.set('fail');
  expect(await reader.read()).toMatchObject({ value: { seq: 3 }, stale: true });

  // A tally from the channel is newer than what PostgreSQL last said: it is the one served stale.
  reader.observe({ round: 1, voting: 'open', results: 'shown', cats: 5, dogs: 2, total: 7, seq: 9, updatedAt: '2026-01-01T00:00:01.000Z' });
  db.set('hang');
  const t0 = performance.now();
  expect(await reader.read()).toMatchObject({ value: { total: 7, seq: 9 }, stale: true });
  expect(performance.now() - t0).toBeLessThan(1000);
});

it('after a failure, answers from memory without asking PostgreSQL again until retryAfterFailureMs passed', async () => {
  const db = fakePool();
  let queries = 0;
  const counting = { query: (...a: unknown[]) => (queries++, (db.pool.query as (...x: unknown[]) => unknown)(...a)) } as unknown as pg.Pool;
  const reader = new TallyReader(counting, { cacheMs: 0, retryAfterFailureMs: 60_000 });
  await reader.read();
  db.set('fail');
  await reader.read();
  const before = queries;
  for (let i = 0; i < 10; i++) expect((await reader.read()).stale).toBe(true);
  expect(queries).toBe(before);
});

it('while results are hidden, a tally that only counted votes makes no answer fresher while PostgreSQL is away (stale stays stale, its age runs on)', async () => {
  // PostgreSQL away for this server (nothing listens), while the consumer still counts and publishes.
  const pool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/away`, connectionTimeoutMillis: 2000 });
  try {
    const reader = new TallyReader(pool, { cacheMs: 250, staleAfterMs: 1000, retryAfterFailureMs: 0 });
    const hidden = { round: 4, voting: 'open', results: 'hidden', cats: 3, dogs: 1, total: 4, seq: 20, updatedAt: '2026-12-07T10:00:05.000Z', changedSeq: 18, changedAt: '2026-12-07T10:00:00.000Z' } as const;
    reader.observe(hidden);
    await expect.poll(async () => (await reader.read()).ageSeconds, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    const before = await reader.read();
    expect(before.stale).toBe(true);
    for (const seq of [21, 22, 23]) {
      reader.observe({ ...hidden, seq, cats: seq, total: seq + 1, updatedAt: `2026-12-07T10:00:${seq}.000Z` });
      const after = await reader.read();
      expect(after.stale).toBe(true);
      expect(after.ageSeconds).toBeGreaterThanOrEqual(before.ageSeconds);
      expect(publicResults(after.value)).toEqual(publicResults(before.value));
    }
    // A host change is news to everyone: the reveal is served as current at once.
    reader.observe({ ...hidden, results: 'shown', seq: 24, changedSeq: 24, updatedAt: '2026-12-07T10:01:00.000Z', changedAt: '2026-12-07T10:01:00.000Z' });
    expect(await reader.read()).toMatchObject({ stale: false, ageSeconds: 0, value: { results: 'shown', seq: 24 } });
  } finally {
    await pool.end();
  }
});
