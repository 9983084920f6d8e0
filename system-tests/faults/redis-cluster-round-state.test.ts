import { afterAll, beforeAll, expect, it } from 'vitest';
import { keySlot, shardKeys, shardOfKey } from '@livevote/service-kit';
import { castVote, createTestEnv, redisCommand, startRedisCluster, startStack, type RedisCluster, type Stack, type TestEnv } from '@livevote/harness';
import { countBy, figure } from './figures.ts';
import { votesUntilClosed } from './harness.ts';

// A real Redis Cluster (3 masters, 3 replicas), 3 stream shards, REDIS_ACK_REPLICAS=0: the host
// closes voting while shard 0's replica is cut off, then its master dies and the replica, which
// never got the close, is promoted. The periodic round-state check is 10 minutes away: only the
// vote script's check of who stamped the copy can keep votes out.
const SHARDS = 3;
let cluster: RedisCluster;
let env: TestEnv;
let stack: Stack;

beforeAll(async () => {
  env = await createTestEnv('cluster_state');
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  stack = await startStack({
    ...env,
    redisUrl: undefined,
    env: { REDIS_CLUSTER_NODES: cluster.seeds, STREAM_SHARDS: String(SHARDS), RATE_LIMIT: 'off' },
    serverEnv: { REDIS_ACK_REPLICAS: '0', ROUND_STATE_CHECK_MS: '600000' },
    consumers: 0,
  });
});
afterAll(async () => {
  await stack?.stop();
  await cluster?.stopAll();
  await env?.cleanup();
});

it('a master failover that loses the host\'s "closed": no vote on the promoted replica until its copy is checked against PostgreSQL', async () => {
  const onShard0 = Array.from({ length: 2000 }, (_, n) => `cluster-round-${n}`).filter((k) => shardOfKey(k, SHARDS) === 0);
  let next = 0;
  expect((await castVote(stack.url, 'cats', onShard0[next++])).status).toBe(202);
  const slot = keySlot(shardKeys(env.redisPrefix, SHARDS)[0]!.round);
  const master = (await cluster.slotOwner(slot))!;
  const [replica] = await cluster.replicaOf(master.port);

  // Cut the replica off: stopped, and its link dropped, so nothing the master takes now reaches it.
  await cluster.kill(replica!.port, 'SIGSTOP');
  await redisCommand(master.port, cluster.auth, ['CLIENT', 'KILL', 'TYPE', 'replica']);
  const closed = await fetch(`${stack.url}/api/host/round`, { method: 'PATCH', headers: { authorization: `Bearer ${stack.hostToken}`, 'content-type': 'application/json' }, body: '{"voting":"closed"}' });
  expect(closed.status).toBe(200);
  expect((await castVote(stack.url, 'dogs', onShard0[next++])).status).toBe(409);

  await cluster.kill(master.port, 'SIGKILL');
  await cluster.kill(replica!.port, 'SIGCONT');
  const promoted = await cluster.waitForMaster(slot, 30_000);
  expect(promoted.port).toBe(replica!.port);

  // Every vote on shard 0 after the host was told "closed": 409, or 503 (not stored) until the
  // check; never 202.
  const statuses = await votesUntilClosed(async () => (await castVote(stack.url, 'dogs', onShard0[next++])).status, 'votes on the promoted replica refused as closed');
  figure('Redis Cluster: the host\'s close lost in a master failover, REDIS_ACK_REPLICAS=0', { statuses: countBy(statuses) });
  expect(statuses.filter((s) => s === 202)).toEqual([]);
});
