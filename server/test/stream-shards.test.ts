import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CONSUMER_GROUP, HostRound, RoundList } from '@livevote/contract';
import { keySlot, shardKeys, shardTags, CLUSTER_SLOTS } from '@livevote/service-kit';
import { castMany, castVote, createTestEnv, results, startStack, type Stack, type TestEnv } from '@livevote/harness';

describe('shard tags', () => {
  it.each([2, 3, 4, 6, 8, 16])('%i shards: one tag in each equal slice of the slot space', (n) => {
    const slots = shardTags(n).map((t) => keySlot(t));
    slots.forEach((slot, i) => {
      expect(slot).toBeGreaterThanOrEqual(Math.floor((i * CLUSTER_SLOTS) / n));
      expect(slot).toBeLessThan(Math.floor(((i + 1) * CLUSTER_SLOTS) / n));
    });
    // Plain {0}…{n-1} tags do not: with 3 masters most of them share one.
    if (n === 3) expect(new Set(['0', '1', '2'].map((t) => Math.floor(keySlot(t) / (CLUSTER_SLOTS / 3)))).size).toBeLessThan(3);
  });

  it('put every key of a shard in one slot', () => {
    for (const k of shardKeys('lv:', 4)) {
      const slot = keySlot(k.votes);
      expect([k.deadLetter, k.round, k.idempotency('some-key-1')].map((x) => keySlot(x))).toEqual([slot, slot, slot]);
    }
  });
});

let env: TestEnv;
let stack: Stack;
let redis: Redis;
const SHARDS = 3;

beforeAll(async () => {
  env = await createTestEnv('stream_shards');
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off', STREAM_SHARDS: String(SHARDS) }, consumers: 2 });
  redis = new Redis(env.redisUrl);
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
  await env?.cleanup();
});

const host = (path: string, init: RequestInit = {}) =>
  fetch(`${stack.url}${path}`, { ...init, headers: { authorization: `Bearer ${stack.hostToken}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });

describe(`STREAM_SHARDS=${SHARDS} on one Redis`, () => {
  it('spreads votes over every shard and counts each once, with two consumer processes reading all shards', async () => {
    const n = 1500;
    const outcomes = await castMany(stack.url, n, 32);
    expect(outcomes.filter((o) => o.status === 202)).toHaveLength(n);
    await vi.waitFor(async () => expect((await results(stack.url)).total).toBe(n), { timeout: 20_000, interval: 50 });
    const keys = shardKeys(env.redisPrefix, SHARDS);
    for (const k of keys) {
      const groups = (await redis.call('XINFO', 'GROUPS', k.votes)) as (string | number)[][];
      const info = Object.fromEntries((groups[0] ?? []).flatMap((v, i, a) => (i % 2 ? [] : [[v, a[i + 1]]])));
      // Each shard has its own group, took its third of the keyless votes (round-robin), all read and acknowledged.
      expect(info.name).toBe(CONSUMER_GROUP);
      expect(Number(info['entries-read'])).toBe(n / SHARDS);
      expect(Number(info.pending)).toBe(0);
    }
    // Each shard counted into its own row.
    const db = new pg.Client({ connectionString: env.databaseUrl });
    await db.connect();
    const { rows } = await db.query<{ shard: number }>('SELECT shard FROM tally_shards ORDER BY shard');
    await db.end();
    expect(rows.map((r) => r.shard)).toEqual([0, 1, 2]);
  });

  it('sends a keyed vote and its retries to one shard, so the key is honoured', async () => {
    const key = `sharded-key-${Date.now()}`;
    const before = (await results(stack.url)).total;
    // Held consumers: the vote stays in flight, so its record answers the retries.
    for (const c of stack.consumers) process.kill(c.pid!, 'SIGSTOP');
    try {
      expect((await castVote(stack.url, 'cats', key)).status).toBe(202);
      expect((await castVote(stack.url, 'cats', key)).status).toBe(202);
      expect((await castVote(stack.url, 'dogs', key)).status).toBe(422);
    } finally {
      for (const c of stack.consumers) process.kill(c.pid!, 'SIGCONT');
    }
    await vi.waitFor(async () => expect((await results(stack.url)).total).toBe(before + 1), { timeout: 10_000 });
    // Counted, its record is gone: a retry is still 202 with its id, and counted once.
    await vi.waitFor(async () => expect((await castVote(stack.url, 'dogs', key)).status).toBe(202), { timeout: 10_000 });
    await vi.waitFor(async () => expect((await results(stack.url)).total).toBe(before + 1), { timeout: 10_000 });
  });

  it('closes voting on every shard at once and opens a new round on all of them', async () => {
    const closed = await host('/api/host/round', { method: 'PATCH', body: '{"voting":"closed"}' });
    expect(HostRound.parse(await closed.json()).voting).toBe('closed');
    const after = await castMany(stack.url, 30, 10);
    expect(after.map((o) => o.status)).toEqual(Array(30).fill(409));
    expect((await host('/api/host/rounds', { method: 'POST' })).status).toBe(201);
    const votes = await castMany(stack.url, 30, 10);
    expect(votes.every((o) => o.status === 202)).toBe(true);
    await vi.waitFor(async () => {
      const rounds = RoundList.parse(await (await host('/api/host/rounds')).json()).rounds;
      expect(rounds.at(-1)?.total).toBe(30);
    }, { timeout: 10_000 });
    for (const k of shardKeys(env.redisPrefix, SHARDS)) expect(await redis.hget(k.round, 'voting')).toBe('open');
  });
});
