import { Redis } from 'ioredis';
import pg from 'pg';
import { shardKeys } from '@livevote/service-kit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { castVote, createTestEnv, startPgFaultProxy, startStack, type CommitFault, type PgFaultProxy, type Stack, type TestEnv } from '@livevote/harness';
import { countBy, figure } from './figures.ts';

// Host changes whose COMMIT is dropped, held or cut on the server's link to PostgreSQL, while
// keyed votes flow over two stream shards; the host retries with its Idempotency-Key as the host
// page does. Then: every 202 counted once, in a round open while it was in flight; no vote sent
// after the host was told "closed" (and before it asked to open again) accepted; one round per key.
let env: TestEnv;
let proxy: PgFaultProxy;
let stack: Stack;

beforeAll(async () => {
  env = await createTestEnv('fault_host_commit');
  const direct = new URL(env.databaseUrl);
  proxy = await startPgFaultProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  stack = await startStack({
    ...env,
    env: { RATE_LIMIT: 'off', STREAM_SHARDS: '2' },
    serverEnv: { DATABASE_URL: proxy.url(env.databaseUrl), ROUND_STATE_CHECK_MS: '300', VOTE_OUTCOME_WAIT_MS: '2000' },
  });
});
afterAll(async () => {
  await stack?.stop();
  await proxy?.close();
  await env?.cleanup();
});

type Attempt = { key: string; option: string; sentAt: number; answeredAt: number; status: number };

/** Keyed votes until stopped; a 503, 504 or lost answer is retried with its key, a 409 is final. */
class Voters {
  readonly attempts: Attempt[] = [];
  readonly final = new Map<string, number>();
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  private n = 0;

  start(concurrency: number): void {
    this.running = Promise.all(Array.from({ length: concurrency }, () => this.loop())).then(() => {});
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const key = `hc-${this.n++}-${Math.random().toString(36).slice(2, 8)}`;
      const option = this.n % 3 ? 'cats' : 'dogs';
      for (let tries = 0; ; tries++) {
        const sentAt = performance.now();
        const o = await castVote(stack.url, option, key, 3000);
        this.attempts.push({ key, option, sentAt, answeredAt: performance.now(), status: o.status });
        if (o.status === 202 || o.status === 409) {
          this.final.set(key, o.status);
          break;
        }
        if (tries > 100) throw new Error(`vote ${key} never settled: ${o.status}`);
        await new Promise((r) => setTimeout(r, 30));
      }
    }
  }
}

type HostStep = { what: string; path: string; method: string; body?: unknown; fault?: CommitFault };
type HostLog = HostStep & { key: string; sentAt: number; answeredAt: number; statuses: number[] };

/** The host page's way: one key per action, retried with it on 503, 504 or no answer. */
async function hostChange(step: HostStep, key: string): Promise<HostLog> {
  const fired = step.fault ? proxy.armCommit(step.fault) : Promise.resolve();
  const statuses: number[] = [];
  const sentAt = performance.now();
  for (let tries = 0; ; tries++) {
    const res = await fetch(`${stack.url}${step.path}`, {
      method: step.method,
      headers: { authorization: `Bearer ${stack.hostToken}`, 'idempotency-key': key, ...(step.body ? { 'content-type': 'application/json' } : {}) },
      ...(step.body ? { body: JSON.stringify(step.body) } : {}),
      signal: AbortSignal.timeout(15_000),
    }).catch(() => null);
    statuses.push(res?.status ?? 0);
    if (res && res.status < 300) break;
    if (tries > 50 || (res && ![503, 504].includes(res.status))) throw new Error(`${step.what}: ${statuses.join(',')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await fired;
  return { ...step, key, sentAt, answeredAt: performance.now(), statuses };
}

it('drops, holds and cuts host COMMITs while keyed votes flow: every 202 counted once, none after "closed", one round per key', async () => {
  const db = new pg.Client({ connectionString: env.databaseUrl });
  await db.connect();
  try {
    const firstRound = Number((await db.query<{ r: number }>('SELECT max(round) AS r FROM rounds')).rows[0]!.r);
    const voters = new Voters();
    voters.start(8);
    const until = (n: number) => new Promise<void>((resolve) => {
      const t = setInterval(() => voters.final.size >= n && (clearInterval(t), resolve()), 20);
    });
    const steps: HostStep[] = [
      { what: 'new round, COMMIT dropped', method: 'POST', path: '/api/host/rounds', fault: { kind: 'drop' } },
      { what: 'close, COMMIT held', method: 'PATCH', path: '/api/host/round', body: { voting: 'closed' }, fault: { kind: 'hold', ms: 1500 } },
      { what: 'open, COMMIT cut after', method: 'PATCH', path: '/api/host/round', body: { voting: 'open' }, fault: { kind: 'cut-after' } },
      { what: 'new round, COMMIT cut after', method: 'POST', path: '/api/host/rounds', fault: { kind: 'cut-after' } },
      { what: 'close, COMMIT dropped', method: 'PATCH', path: '/api/host/round', body: { voting: 'closed' }, fault: { kind: 'drop' } },
      { what: 'open, COMMIT held past the outcome wait', method: 'PATCH', path: '/api/host/round', body: { voting: 'open' }, fault: { kind: 'hold', ms: 8000 } },
      { what: 'new round, COMMIT held', method: 'POST', path: '/api/host/rounds', fault: { kind: 'hold', ms: 800 } },
      { what: 'close, COMMIT cut after', method: 'PATCH', path: '/api/host/round', body: { voting: 'closed' }, fault: { kind: 'cut-after' } },
      { what: 'open', method: 'PATCH', path: '/api/host/round', body: { voting: 'open' } },
    ];
    const log: HostLog[] = [];
    for (const [i, step] of steps.entries()) {
      await until((i + 1) * 150);
      log.push(await hostChange(step, `host-${i}-${Date.now()}`));
    }
    await until(steps.length * 150 + 150);
    await voters.stop();

    const accepted = [...voters.final].filter(([, s]) => s === 202).map(([k]) => k);
    const refused = [...voters.final].filter(([, s]) => s === 409).map(([k]) => k);
    // Every accepted vote counted, once.
    await expect.poll(async () => Number((await db.query<{ n: string }>('SELECT coalesce(sum(cats + dogs), 0) AS n FROM round_tallies')).rows[0]!.n), { message: 'every 202 counted', timeout: 30_000 }).toBe(accepted.length);
    const applied = new Map((await db.query<{ vid: string; round: number }>('SELECT vid, round FROM applied_votes')).rows.map((r) => [r.vid, r.round]));
    expect(accepted.filter((k) => !applied.has(k))).toEqual([]);
    expect(refused.filter((k) => applied.has(k))).toEqual([]);
    expect(applied.size).toBe(accepted.length);
    // No vote dead-lettered (a round that does not exist, or is merely late, would be).
    const redis = new Redis(env.redisUrl);
    try {
      for (const k of shardKeys(env.redisPrefix, 2)) expect(await redis.xlen(k.deadLetter), k.deadLetter).toBe(0);
    } finally {
      redis.disconnect();
    }

    // One round per new-round key.
    const newRounds = log.filter((l) => l.method === 'POST');
    const lastRound = Number((await db.query<{ r: number }>('SELECT max(round) AS r FROM rounds')).rows[0]!.r);
    expect(lastRound).toBe(firstRound + newRounds.length);

    // No attempt sent while the host had been told "closed" (until it asked to open) was accepted.
    const closedWindows = log.flatMap((l, i) => {
      if ((l.body as { voting?: string } | undefined)?.voting !== 'closed') return [];
      const reopen = log.slice(i + 1).find((o) => o.method === 'POST' || (o.body as { voting?: string } | undefined)?.voting === 'open');
      return [{ from: l.answeredAt, to: reopen?.sentAt ?? Number.POSITIVE_INFINITY }];
    });
    const inClosed = voters.attempts.filter((a) => closedWindows.some((w) => a.sentAt >= w.from && a.sentAt < w.to));
    expect(inClosed.length).toBeGreaterThan(0);
    expect(inClosed.filter((a) => a.status === 202)).toEqual([]);

    // Each vote counted in a round that was current while it was in flight.
    const roundBounds = (t: number) => ({
      low: firstRound + newRounds.filter((l) => l.answeredAt <= t).length,
      high: firstRound + newRounds.filter((l) => l.sentAt <= t).length,
    });
    const wrongRound = voters.attempts
      .filter((a) => a.status === 202)
      .filter((a) => {
        const r = applied.get(a.key)!;
        return r < roundBounds(a.sentAt).low || r > roundBounds(a.answeredAt).high;
      });
    expect(wrongRound).toEqual([]);

    const statuses = countBy(voters.attempts.map((a) => a.status));
    figure('host COMMIT dropped, held and cut while keyed votes flow (2 shards)', {
      votes: voters.final.size,
      accepted: accepted.length,
      refusedClosed: refused.length,
      attemptsWhileClosed: inClosed.length,
      voteStatuses: statuses,
      host: log.map((l) => ({ what: l.what, statuses: l.statuses, ms: Math.round(l.answeredAt - l.sentAt) })),
      rounds: lastRound - firstRound,
    });
  } finally {
    await db.end();
  }
});
