import { Cluster } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CONSUMER_GROUP } from '@livevote/contract';
import { keySlot, shardKeys, shardTags } from '@livevote/service-kit';
import { redisAclLines } from '@livevote/launcher';
import { createTestEnv, startRedisCluster, startStack, type RedisCluster, type Stack, type TestEnv } from '@livevote/harness';
import { figure } from './figures.ts';
import { ACL_CREDS, tallyTotal, VotePourer } from './harness.ts';

// A real Redis Cluster (3 masters, 3 replicas, the project's ACL users on every node), the votes
// stream in 3 shards, REDIS_ACK_REPLICAS=1: a master SIGKILLed while votes pour in. The server
// answers within VOTE_OUTCOME_WAIT_MS, below the pourer's 2 s client timeout, so every vote has an answer.
const SHARDS = 3;
const creds = ACL_CREDS;
let cluster: RedisCluster;
let env: TestEnv;
let stack: Stack;

beforeAll(async () => {
  env = await createTestEnv('fault_cluster');
  const acl = `${redisAclLines(env.redisPrefix, creds).join('\n')}\n`;
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1, acl, auth: { username: 'admin', password: creds.redisAdmin } });
  stack = await startStack({
    ...env,
    redisUrl: undefined,
    env: { REDIS_CLUSTER_NODES: cluster.seeds, STREAM_SHARDS: String(SHARDS), RATE_LIMIT: 'off' },
    serverEnv: { REDIS_USERNAME: 'server', REDIS_PASSWORD: creds.redisServer, REDIS_ACK_REPLICAS: '1', REDIS_ACK_TIMEOUT_MS: '800', VOTE_OUTCOME_WAIT_MS: '1800' },
    consumerEnv: { REDIS_USERNAME: 'consumer', REDIS_PASSWORD: creds.redisConsumer, CLAIM_IDLE_MS: '2000', CLAIM_EVERY_MS: '500' },
    consumers: 2,
  });
});
afterAll(async () => {
  await stack?.stop();
  await cluster?.stopAll();
  await env?.cleanup();
});

it('a master SIGKILLed under load: only 202, 503 and 504 (retried with its key), every 202 counted once, votes on every master', async () => {
  const shards = shardKeys(env.redisPrefix, SHARDS);
  const owners = await Promise.all(shards.map(async (k) => (await cluster.slotOwner(keySlot(k.votes)))!.port));
  expect(new Set(owners).size, 'the shard tags spread over the three masters').toBe(3);

  const pour = new VotePourer(stack.url, 16);
  pour.start();
  await expect.poll(() => pour.accepted.size, { message: 'votes flowing', timeout: 30_000 }).toBeGreaterThanOrEqual(500);
  const victim = owners[0]!;
  const before = pour.accepted.size;
  const t0 = Date.now();
  await cluster.kill(victim, 'SIGKILL');
  const promoted = await cluster.waitForMaster(keySlot(shards[0]!.votes), 30_000);
  const failoverMs = Date.now() - t0;
  expect(promoted.port).not.toBe(victim);
  // The promoted replica has no replica of its own: with REDIS_ACK_REPLICAS=1 its shard answers 504
  // until one is back. The killed node comes back (as a pod would) and rejoins as its replica.
  await cluster.start(victim);
  await expect.poll(async () => (await cluster.replicaOf(promoted.port)).length, { message: 'the old master back as a replica', timeout: 30_000 }).toBe(1);
  const rejoinedMs = Date.now() - t0;
  const atFailover = pour.accepted.size;
  await expect.poll(() => pour.accepted.size, { message: 'votes flowing again after the failover', timeout: 30_000 }).toBeGreaterThanOrEqual(atFailover + 500);
  await pour.finish();

  const accepted = pour.accepted.size;
  await expect.poll(() => tallyTotal(env.databaseUrl), { message: 'every accepted vote counted', timeout: 60_000 }).toBeGreaterThanOrEqual(accepted);
  const admin = new Cluster(cluster.seedNodes, { redisOptions: { username: 'admin', password: creds.redisAdmin } });
  try {
    for (const k of shards) {
      await expect.poll(async () => Number(((await admin.xpending(k.votes, CONSUMER_GROUP)) as [number])[0]), { message: `nothing pending on ${k.votes}`, timeout: 30_000 }).toBe(0);
    }
  } finally {
    admin.disconnect();
  }
  const counted = await tallyTotal(env.databaseUrl);
  const db = new pg.Client({ connectionString: env.databaseUrl });
  await db.connect();
  const perShard = (await db.query<{ shard: number; n: string }>('SELECT shard, sum(cats + dogs)::text AS n FROM round_tallies GROUP BY shard ORDER BY shard')).rows;
  await db.end();
  const statuses = Object.fromEntries(pour.statuses);
  figure('Redis Cluster: master SIGKILL under load, 3 shards, REDIS_ACK_REPLICAS=1', {
    acceptedBeforeKill: before,
    keys2xx: accepted,
    counted,
    failoverMs,
    rejoinedMs,
    perShard: Object.fromEntries(perShard.map((r) => [shardTags(SHARDS)[r.shard], Number(r.n)])),
    statuses,
  });
  expect(counted).toBe(accepted);
  expect(Object.keys(statuses).filter((s) => !['202', '503', '504'].includes(s))).toEqual([]);
  expect(perShard.map((r) => r.shard)).toEqual([0, 1, 2]);
  for (const r of perShard) expect(Number(r.n), `shard ${r.shard}`).toBeGreaterThan(0);
});
