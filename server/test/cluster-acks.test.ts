import { afterAll, beforeAll, expect, it } from 'vitest';
import { keySlot, shardKeys, shardOfKey } from '@livevote/service-kit';
import { castVote, createTestEnv, startRedisCluster, startStack, type RedisCluster, type Stack, type TestEnv } from '@livevote/harness';

// REDIS_ACK_REPLICAS=1 on a real Redis Cluster: each tick's votes and their WAIT go as one
// pipeline, which ioredis does not re-route on MOVED (the WAIT succeeded). After a failover the
// intake must learn the new slot owner from that MOVED, not keep sending to the old master.
const SHARDS = 3;
let cluster: RedisCluster;
let env: TestEnv;
let stack: Stack;

beforeAll(async () => {
  env = await createTestEnv('cluster_acks');
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  stack = await startStack({
    ...env,
    redisUrl: undefined,
    env: { REDIS_CLUSTER_NODES: cluster.seeds, STREAM_SHARDS: String(SHARDS), RATE_LIMIT: 'off' },
    serverEnv: { REDIS_ACK_REPLICAS: '1', REDIS_ACK_TIMEOUT_MS: '800', VOTE_OUTCOME_WAIT_MS: '1800' },
  });
});
afterAll(async () => {
  await stack?.stop();
  await cluster?.stopAll();
  await env?.cleanup();
});

it('follows a failed-over slot: after the MOVED that a vote gets, the next votes are 202 on the new master', async () => {
  const keyOf = (n: number) => `cluster-acks-${n}`;
  const onShard0 = Array.from({ length: 400 }, (_, n) => keyOf(n)).filter((k) => shardOfKey(k, SHARDS) === 0);
  let next = 0;
  expect((await castVote(stack.url, 'cats', onShard0[next++])).status).toBe(202);

  const slot = keySlot(shardKeys(env.redisPrefix, SHARDS)[0]!.votes);
  const owner = (await cluster.slotOwner(slot))!;
  const [replica] = await cluster.replicaOf(owner.port);
  await cluster.failover(replica!.port);
  await expect.poll(async () => (await cluster.replicaOf(replica!.port)).length, { message: 'the old master following the new one' }).toBe(1);

  const statuses: number[] = [];
  await expect
    .poll(
      async () => {
        const status = (await castVote(stack.url, 'dogs', onShard0[next++])).status;
        statuses.push(status);
        return status;
      },
      { message: 'votes on the failed-over shard accepted again', timeout: 10_000, interval: 100 },
    )
    .toBe(202);
  // Refused (not stored) while the route was stale: never a 504, never a 500.
  expect(statuses.filter((s) => s !== 202 && s !== 503)).toEqual([]);
});
