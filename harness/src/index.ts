// The test harness: what tests need to run the real stack and talk to it. The processes
// themselves are the launcher's; this adds private databases, key prefixes and clients.
export { startStack, ServiceProcess, RedisServer, redisServerAvailable, startEmbeddedPostgres, freePort, type Stack, type StackOptions } from '@livevote/launcher';
export { createTestEnv, TEST_PG_ADMIN_URL, TEST_REDIS_URL, type TestEnv } from './test-env.ts';
export * from './vote-client.ts';
export { TallyWatcher } from './tally-watcher.ts';
export { streamFrames, takeSseFrames, type RawSseFrame } from './sse-frames.ts';
export * from './counts.ts';
export * as images from './images.ts';
export { databaseAway } from './database-away.ts';
export { startPgFaultProxy, type PgFaultProxy, type CommitFault } from './pg-fault-proxy.ts';
export { startPrivateRedis, type PrivateRedis } from './private-redis.ts';
export { startRedisCluster, redisCommand, pidAlive, pollUntil, type RedisCluster, type RedisClusterOptions, type ClusterNode, type RedisAuth, type HostPort } from './redis-cluster.ts';
export { startSentinelSet, type SentinelSet, type SentinelSetOptions, type SentinelSetNode, type PromoteOptions } from './redis-sentinel.ts';
