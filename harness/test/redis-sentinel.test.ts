import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSentinelSet, type SentinelSet } from '../src/index.ts';
import { pidAlive, redisCommand, redisRole } from '../src/redis-cluster.ts';

// A real primary + replica + 3 sentinels (quorum 2, down after 1 s), with requirepass on the data nodes.
const password = 'sentinel-drill';
let set: SentinelSet;
let client: Redis;

/** The port the client's connection is on, as the server reports it. */
const serverPort = async (r: Redis) => Number(/tcp_port:(\d+)/.exec(await r.info('server'))![1]);

beforeAll(async () => {
  const t0 = Date.now();
  set = await startSentinelSet({ quorum: 2, downAfterMs: 1000, failoverTimeoutMs: 3000, requirepass: password });
  console.info(`sentinel set up in ${Date.now() - t0} ms: sentinels ${set.sentinels}`);
  // sentinelCommandTimeout: without it ioredis waits forever on a SIGSTOPped sentinel while resolving the primary.
  client = new Redis({ sentinels: set.sentinelNodes, name: set.name, password, sentinelCommandTimeout: 500 });
  client.on('error', () => {}); // reconnections during the drills
});

afterAll(async () => {
  client?.disconnect();
  if (!set) return;
  const pids = set.pids();
  await set.stopAll();
  expect(pids.filter(pidAlive)).toEqual([]);
  expect(existsSync(set.dir)).toBe(false);
});

describe('startSentinelSet', () => {
  it('comes up with a primary, a linked replica and three sentinels that know each other', async () => {
    const [primaryNode, replicaNode] = set.nodes;
    expect(set.nodes.map((n) => n.kind)).toEqual(['data', 'data', 'sentinel', 'sentinel', 'sentinel']);
    expect((await set.primary()).port).toBe(primaryNode!.port);
    expect((await set.replica()).port).toBe(replicaNode!.port);
    for (const s of set.sentinelNodes) {
      expect(await redisCommand(s.port, undefined, ['SENTINEL', 'SENTINELS', set.name])).toHaveLength(2);
      expect(await redisCommand(s.port, undefined, ['SENTINEL', 'REPLICAS', set.name])).toHaveLength(1);
    }
    expect(await redisRole(replicaNode!.port, set.auth)).toMatchObject({ role: 'replica', masterPort: primaryNode!.port, state: 'connected' });
    await client.set('hello', 'world');
    expect(await serverPort(client)).toBe(primaryNode!.port);
  });

  it('promote(): a deterministic manual promotion that loses what the old primary took meanwhile', async () => {
    const oldPrimary = await set.primary();
    const replica = await set.replica();
    await client.set('kept', 'yes');
    expect(await client.call('WAIT', 1, 2000)).toBe(1);
    const t0 = Date.now();
    const promoted = await set.promote(replica.port, {
      async beforeDemote(old) {
        expect(old.port).toBe(oldPrimary.port);
        // Acknowledged by the old primary, never replicated: the lost write.
        expect(await client.set('lost', 'yes')).toBe('OK');
        expect(await serverPort(client)).toBe(oldPrimary.port);
      },
    });
    console.info(`promote ${oldPrimary.port} -> ${promoted.port}: ${Date.now() - t0} ms`);
    expect(promoted.port).toBe(replica.port);
    expect((await set.primary()).port).toBe(replica.port);
    expect((await set.replica()).port).toBe(oldPrimary.port);
    // The client was disconnected by the demotion and followed the sentinels to the new primary.
    expect(await client.get('kept')).toBe('yes');
    expect(await client.get('lost')).toBeNull();
    expect(await serverPort(client)).toBe(replica.port);
    expect(await redisRole(oldPrimary.port, set.auth)).toMatchObject({ role: 'replica', masterPort: replica.port });
  });

  it('fails over after SIGKILL of the primary (one sentinel paused) and ioredis follows the new primary', async () => {
    const oldPrimary = await set.primary();
    const replica = await set.replica();
    await client.set('before-crash', '1');
    expect(await client.call('WAIT', 1, 2000)).toBe(1);
    const paused = set.sentinelNodes[2]!.port;
    await set.signal(paused, 'SIGSTOP');
    const oldPid = set.nodes.find((n) => n.port === oldPrimary.port)!.pid;
    const t0 = Date.now();
    await set.kill(oldPrimary.port, 'SIGKILL');
    expect(pidAlive(oldPid)).toBe(false);
    const next = await set.waitForFailover(oldPrimary.port);
    console.info(`SIGKILL ${oldPrimary.port}: sentinels promoted ${next.port} after ${Date.now() - t0} ms`);
    expect(next.port).toBe(replica.port);
    expect(await client.get('before-crash')).toBe('1');
    await client.set('after-crash', '1');
    expect(await serverPort(client)).toBe(next.port);
    console.info(`ioredis on the new primary ${Date.now() - t0} ms after the kill`);
    await set.signal(paused, 'SIGCONT');
    expect((await set.waitHealthy(15_000)).port).toBe(next.port);
    console.info(`paused sentinel resumed and agrees ${Date.now() - t0} ms after the kill`);
  }, 120_000); // room for waitForFailover's bound
});

describe("promote(port, { via: 'sentinel' })", () => {
  let other: SentinelSet;
  beforeAll(async () => {
    other = await startSentinelSet({ name: 'manual' });
  });
  afterAll(async () => {
    if (!other) return;
    const pids = other.pids();
    await other.stopAll();
    expect(pids.filter(pidAlive)).toEqual([]);
  });

  it('runs SENTINEL FAILOVER and returns once every sentinel reports the replica as the master', async () => {
    const oldPrimary = await other.primary();
    const replica = await other.replica();
    const t0 = Date.now();
    const promoted = await other.promote(replica.port, { via: 'sentinel' });
    console.info(`SENTINEL FAILOVER ${oldPrimary.port} -> ${promoted.port}: ${Date.now() - t0} ms`);
    expect(promoted.port).toBe(replica.port);
    expect((await other.primary()).port).toBe(replica.port);
    expect(await redisRole(replica.port, other.auth)).toEqual({ role: 'master' });
  });
});
