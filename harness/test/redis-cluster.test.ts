import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisCluster } from '../src/index.ts';
import { pidAlive } from '../src/redis-cluster.ts';

// A real 3 masters + 3 replicas cluster (with an ACL file: the default user is off), killed and
// restarted by PID.
const auth = { username: 'admin', password: 'admin-secret' };
const acl = `user default off\nuser ${auth.username} on >${auth.password} ~* &* +@all\n`;

let cluster: RedisCluster;
let client: Cluster;

beforeAll(async () => {
  const t0 = Date.now();
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, acl, auth });
  console.info(`cluster of ${cluster.nodes.length} up in ${Date.now() - t0} ms: ${cluster.seeds}`);
  client = new Cluster(cluster.seedNodes, { redisOptions: { ...auth }, retryDelayOnFailover: 100 });
});

afterAll(async () => {
  client?.disconnect();
  if (!cluster) return;
  const pids = cluster.pids();
  await cluster.stopAll();
  expect(pids.filter(pidAlive)).toEqual([]);
  expect(existsSync(cluster.dir)).toBe(false);
});

const admin = (port: number) => new Redis({ port, host: '127.0.0.1', ...auth });

describe('startRedisCluster', () => {
  it('comes up with 3 masters, 3 replicas (one each) and all 16384 slots covered', async () => {
    expect(cluster.nodes).toHaveLength(6);
    expect(new Set(cluster.nodes.map((n) => n.pid)).size).toBe(6);
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    for (const m of masters) expect(await cluster.replicaOf(m.port)).toHaveLength(1);
    const r = admin(cluster.nodes[0]!.port);
    const info = await r.cluster('INFO');
    r.disconnect();
    expect(info).toMatch(/cluster_state:ok/);
    expect(info).toMatch(/cluster_slots_assigned:16384/);
    expect(info).toMatch(/cluster_size:3/);
    // The default user is off: the ACL file is in force.
    const anon = spawnSync('redis-cli', ['-p', String(cluster.nodes[0]!.port), 'PING'], { encoding: 'utf8' });
    expect(anon.stdout).toMatch(/NOAUTH/);
  });

  it('promotes the replica of a SIGKILLed master and serves the keys in its slots again', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `drill:${i}`);
    for (const k of keys) await client.set(k, `v-${k}`);
    const slot = Number(await client.cluster('KEYSLOT', keys[0]!));
    const victim = (await cluster.slotOwner(slot))!;
    const [replica] = await cluster.replicaOf(victim.port);
    expect(replica).toBeDefined();
    // Every write acknowledged by the replica before the crash.
    const r = admin(victim.port);
    expect(await r.call('WAIT', 1, 2000)).toBe(1);
    r.disconnect();
    const mine: string[] = [];
    for (const k of keys) if ((await cluster.slotOwner(Number(await client.cluster('KEYSLOT', k))))?.port === victim.port) mine.push(k);
    expect(mine.length).toBeGreaterThan(5);

    const victimPid = victim.pid;
    const t0 = Date.now();
    await cluster.kill(victim.port, 'SIGKILL');
    expect(pidAlive(victim.pid)).toBe(false);
    const owner = await cluster.waitForMaster(slot, 20_000);
    console.info(`slot ${slot}: ${victim.port} killed, ${owner.port} master after ${Date.now() - t0} ms`);
    expect(owner.port).toBe(replica!.port);
    expect(await client.mget(...mine.slice(0, 1))).toEqual([`v-${mine[0]}`]);
    for (const k of mine) expect(await client.get(k)).toBe(`v-${k}`);
    await client.set(mine[0]!, 'after-failover');
    expect(await client.get(mine[0]!)).toBe('after-failover');
    console.info(`keys served again ${Date.now() - t0} ms after the kill`);

    // The old master comes back with its same config and rejoins as a replica of the new one.
    const t1 = Date.now();
    const back = await cluster.start(victim.port);
    expect(back.pid).not.toBe(victimPid);
    expect(back.role).toBe('replica');
    expect((await cluster.replicaOf(owner.port)).map((n) => n.port)).toEqual([victim.port]);
    console.info(`old master back as a replica in ${Date.now() - t1} ms`);
  });

  it('hands a master role back with a manual CLUSTER FAILOVER', async () => {
    const [master] = await cluster.masters();
    const [replica] = await cluster.replicaOf(master!.port);
    const t0 = Date.now();
    const promoted = await cluster.failover(replica!.port);
    console.info(`manual failover of ${master!.port} to ${promoted.port} in ${Date.now() - t0} ms`);
    expect(promoted.role).toBe('master');
    expect((await cluster.replicaOf(promoted.port)).map((n) => n.port)).toEqual([master!.port]);
    await cluster.waitHealthy();
  });
});
