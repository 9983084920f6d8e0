import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '@livevote/harness';
import { HostSessionEpoch } from '../src/host-session-epoch.ts';

// The epoch cache against real PostgreSQL, where a read's answer can be held on its way back
// (PostgreSQL has answered, the link is slow) and the clock is the test's: the order of a read
// and a revocation is then chosen, not hoped for.
let env: TestEnv;
let pool: pg.Pool;

beforeAll(async () => {
  env = await createTestEnv('host_session_epoch');
  pool = new pg.Pool({ connectionString: env.databaseUrl, max: 4 });
});
afterAll(async () => {
  await pool?.end();
  await env?.cleanup();
});

/** `pool`, but while held a read's answer waits for `release()`; `answered` says PostgreSQL has given it. */
function slowLink(of: pg.Pool) {
  let gate: { answered: PromiseWithResolvers<void>; release: PromiseWithResolvers<void> } | null = null;
  return {
    hold() {
      gate = { answered: Promise.withResolvers(), release: Promise.withResolvers() };
      return { answered: gate.answered.promise, release: gate.release.resolve };
    },
    query: async <R extends pg.QueryResultRow>(text: string) => {
      const held = text.startsWith('SELECT') ? gate : null;
      const result = await of.query<R>(text);
      if (held) {
        held.answered.resolve();
        await held.release.promise;
      }
      return result;
    },
  };
}

const clock = () => {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
};

describe('the host session epoch', { timeout: 10_000 }, () => {
  it('a read under way while this server revokes never puts the old epoch back', async () => {
    const link = slowLink(pool);
    const time = clock();
    const epoch = new HostSessionEpoch(link, 1000, time.now);
    const held = link.hold();
    const reading = epoch.current();
    await held.answered;
    const revoked = await epoch.revoke();
    held.release();
    await reading;
    expect(await epoch.current()).toBe(revoked);
  });

  it('another server honours a revocation within the cache time of it, however slow the read that raced it', async () => {
    const time = clock();
    const link = slowLink(pool);
    const other = new HostSessionEpoch(link, 1000, time.now);
    const revoking = new HostSessionEpoch(pool, 1000, time.now);
    const before = await other.current();
    time.advance(1001);
    const held = link.hold();
    const reading = other.current();
    await held.answered;
    const revoked = await revoking.revoke();
    expect(revoked).toBe(before + 1);
    // The read that PostgreSQL answered before the revocation arrives 0.9 s late, still in time.
    time.advance(900);
    held.release();
    expect(await reading).toBe(before);
    // 1 s after the revocation the old epoch is gone, though its answer is only 0.1 s old.
    time.advance(101);
    expect(await other.current()).toBe(revoked);
  });

  it('an answer slower than the cache time is refused (the session check fails closed), not believed', async () => {
    const time = clock();
    const link = slowLink(pool);
    const epoch = new HostSessionEpoch(link, 1000, time.now);
    const held = link.hold();
    const reading = epoch.current();
    await held.answered;
    time.advance(1001);
    held.release();
    await expect(reading).rejects.toThrow(/too long/);
    // The next read, in time, is believed.
    expect(await epoch.current()).toBeGreaterThanOrEqual(0);
  });
});
