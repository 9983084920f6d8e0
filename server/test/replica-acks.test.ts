import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { castMany, castVote, createTestEnv, results, startPrivateRedis, startStack, type PrivateRedis, type Stack, type TestEnv } from '@livevote/harness';

// REDIS_ACK_REPLICAS=1 on a real primary and replica: a 202 only once the replica holds the vote
// (one WAIT per tick), "outcome unknown" (504) when it does not answer in time, never a 503.
let primary: PrivateRedis;
let replica: PrivateRedis;
let replicaPid: number;
let env: TestEnv;
let stack: Stack;

const pidOf = async (url: string) => {
  const r = new Redis(url);
  const info = await r.info('server');
  r.disconnect();
  return Number(/process_id:(\d+)/.exec(info)![1]);
};

beforeAll(async () => {
  primary = await startPrivateRedis('ack-primary');
  replica = await startPrivateRedis('ack-replica', { extraArgs: ['--replicaof', '127.0.0.1', String(primary.options.port)] });
  replicaPid = await pidOf(replica.url);
  const admin = new Redis(primary.url);
  await vi.waitFor(async () => expect(await admin.info('replication')).toMatch(/connected_slaves:1[\s\S]*state=online/), { timeout: 20_000, interval: 50 });
  admin.disconnect();
  env = await createTestEnv('replica_acks', `${primary.url}/0`);
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' }, serverEnv: { REDIS_ACK_REPLICAS: '1', REDIS_ACK_TIMEOUT_MS: '500', VOTE_OUTCOME_WAIT_MS: '2000' } });
});
afterAll(async () => {
  if (replicaPid) process.kill(replicaPid, 'SIGCONT');
  await stack?.stop();
  await env?.cleanup();
  await replica?.dispose();
  await primary?.dispose();
});

describe('REDIS_ACK_REPLICAS=1', () => {
  it('answers 202 once the replica holds the votes, with one WAIT per tick, not per vote, and counts them', async () => {
    const before = (await results(stack.url)).total;
    const admin = new Redis(primary.url);
    const waits = async () => Number(/cmdstat_wait:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);
    const waitsBefore = await waits();
    const outcomes = await castMany(stack.url, 400, 40);
    expect(outcomes.map((o) => o.status).filter((s) => s !== 202)).toEqual([]);
    const used = (await waits()) - waitsBefore;
    admin.disconnect();
    console.info(`400 votes from 40 clients: ${used} WAIT calls`);
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThan(400 / 4);
    await vi.waitFor(async () => expect((await results(stack.url)).total).toBe(before + 400), { timeout: 10_000 });
  });

  it('answers 504 "outcome unknown" (never 202 or 503) while the replica is stopped, and 202 again once it is back', async () => {
    process.kill(replicaPid, 'SIGSTOP');
    try {
      const key = `unacked-${Date.now()}`;
      const res = await fetch(`${stack.url}/api/vote`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: '{"option":"cats"}' });
      expect(res.status).toBe(504);
      expect(await res.json()).toEqual({ error: 'outcome unknown', id: key });
      expect(res.headers.get('retry-after')).toBeNull();
      const more = await castMany(stack.url, 60, 30);
      expect(new Set(more.map((o) => o.status))).toEqual(new Set([504]));
    } finally {
      process.kill(replicaPid, 'SIGCONT');
    }
    await vi.waitFor(async () => expect((await castVote(stack.url, 'dogs')).status).toBe(202), { timeout: 15_000, interval: 200 });
  });

  it('answers a host change only once the replica holds it: 504 while the replica is stopped, the retry with its key 200 once it is back', async () => {
    const change = (key: string) =>
      fetch(`${stack.url}/api/host/round`, { method: 'PATCH', headers: { authorization: `Bearer ${stack.hostToken}`, 'content-type': 'application/json', 'idempotency-key': key }, body: '{"voting":"closed"}' });
    const key = `host-unacked-${Date.now()}`;
    process.kill(replicaPid, 'SIGSTOP');
    try {
      const res = await change(key);
      expect(res.status).toBe(504);
      expect(await res.json()).toEqual({ error: expect.stringMatching(/not yet in effect/), key });
    } finally {
      process.kill(replicaPid, 'SIGCONT');
    }
    await vi.waitFor(async () => {
      const retry = await change(key);
      expect(retry.status).toBe(200);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
    }, { timeout: 15_000, interval: 200 });
    expect((await castVote(stack.url, 'cats')).status).toBe(409);
    const reopen = await fetch(`${stack.url}/api/host/round`, { method: 'PATCH', headers: { authorization: `Bearer ${stack.hostToken}`, 'content-type': 'application/json' }, body: '{"voting":"open"}' });
    expect(reopen.status).toBe(200);
  });
});
