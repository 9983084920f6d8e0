import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HostRound, RoundList } from '@livevote/contract';
import { shardKeys } from '@livevote/service-kit';
import { castVote, createTestEnv, startPgFaultProxy, startStack, type PgFaultProxy, type Stack, type TestEnv } from '@livevote/harness';

// A host change whose COMMIT is dropped, held or cut on the link between the server and
// PostgreSQL (the consumer's link is sound). Two stream shards: the round state has two copies.
let env: TestEnv;
let stack: Stack;
let proxy: PgFaultProxy;
let redis: Redis;
const SHARDS = 2;

beforeAll(async () => {
  env = await createTestEnv('host_change_faults');
  const direct = new URL(env.databaseUrl);
  proxy = await startPgFaultProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  stack = await startStack({
    ...env,
    env: { RATE_LIMIT: 'off', STREAM_SHARDS: String(SHARDS) },
    // A check often enough that a restore always runs while a held COMMIT waits.
    serverEnv: { DATABASE_URL: proxy.url(env.databaseUrl), ROUND_STATE_CHECK_MS: '300' },
  });
  redis = new Redis(env.redisUrl);
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
  await proxy?.close();
  await env?.cleanup();
});

const host = (path: string, init: RequestInit = {}) =>
  fetch(`${stack.url}${path}`, { ...init, headers: { authorization: `Bearer ${stack.hostToken}`, ...(init.headers as Record<string, string>) } });
const current = async () => HostRound.parse(await (await host('/api/host/round')).json());
const rounds = async () => RoundList.parse(await (await host('/api/host/rounds')).json()).rounds;
const newRound = (key?: string) => host('/api/host/rounds', { method: 'POST', headers: key ? { 'idempotency-key': key } : {} });
const patch = (body: unknown, key?: string) =>
  host('/api/host/round', { method: 'PATCH', headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) }, body: JSON.stringify(body) });
const copies = () => Promise.all(shardKeys(env.redisPrefix, SHARDS).map((k) => redis.hgetall(k.round)));
const counted = async (id: string) => (await (await fetch(`${stack.url}/api/vote/${id}`)).json()) as { counted: boolean; round?: number };
let n = 0;
const key = (what: string) => `${what}-${Date.now()}-${n++}`;

describe('a host change whose COMMIT misbehaves', () => {
  it('dropped: 503 "nothing changed", no copy of the round state names a round PostgreSQL lacks, and votes cast at once count in the open round', async () => {
    const before = await current();
    const fired = proxy.armCommit({ kind: 'drop' });
    const res = await newRound(key('drop'));
    await fired;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).not.toBeNull();
    expect(await res.json()).toEqual({ error: expect.stringMatching(/nothing changed/) });
    for (const c of await copies()) expect(c.round, JSON.stringify(c)).toBe(String(before.round));
    const ids = await Promise.all(Array.from({ length: 6 }, async () => {
      const id = key('vote');
      expect((await castVote(stack.url, 'cats', id)).status).toBe(202);
      return id;
    }));
    for (const id of ids) await vi.waitFor(async () => expect(await counted(id)).toEqual({ id, counted: true, seq: expect.any(Number), round: before.round }), { timeout: 15_000, interval: 100 });
    expect((await rounds()).at(-1)?.round).toBe(before.round);
  });

  it('held: once the host is answered "closed", no vote sent later is accepted', async () => {
    expect((await patch({ voting: 'open' })).status).toBe(200);
    // Long enough for several round-state checks to run while the COMMIT is held.
    const fired = proxy.armCommit({ kind: 'hold', ms: 1500 });
    const sent = performance.now();
    const res = await patch({ voting: 'closed' }, key('hold'));
    const answered = performance.now();
    await fired;
    expect(res.status).toBe(200);
    expect(HostRound.parse(await res.json()).voting).toBe('closed');
    // Votes for a while after the answer: more than one check period.
    const until = performance.now() + 1000;
    const statuses: number[] = [];
    while (performance.now() < until) statuses.push((await castVote(stack.url, 'dogs', key('late'))).status);
    console.info(`closed after a held COMMIT: ${Math.round(answered - sent)} ms to the answer, then ${statuses.length} votes in 1 s: ${JSON.stringify(statuses.reduce<Record<number, number>>((o, s) => ({ ...o, [s]: (o[s] ?? 0) + 1 }), {}))}`);
    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.filter((s) => s !== 409)).toEqual([]);
    expect((await patch({ voting: 'open' })).status).toBe(200);
  });

  it('cut after it committed: the host is told it happened (never 503), and a retry with the same key makes no second round', async () => {
    const before = await current();
    const k = key('cut');
    const fired = proxy.armCommit({ kind: 'cut-after' });
    const res = await newRound(k);
    await fired;
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ round: before.round + 1 });
    const retry = await newRound(k);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.json()).toEqual({ round: before.round + 1 });
    expect((await rounds()).at(-1)?.round).toBe(before.round + 1);
    for (const c of await copies()) expect(c.round).toBe(String(before.round + 1));
  });
});
