/**
 * The consumer process: stream → PostgreSQL → publish. Fails fast on bad configuration,
 * retries dependencies forever at run time, and on SIGTERM finishes the batch in flight.
 */
import { redisKeys } from '@livevote/contract';
import { ConfigError, createLogger, createOpsServer, createPool, createRedis, listen, redisTargetOf, shardKeys, waitReady } from '@livevote/service-kit';
import { loadConfig } from './config.ts';
import { createConsumerMetrics } from './metrics.ts';
import { withFaultHooks } from './fault-hooks.ts';
import { TallyStore } from './tally-store.ts';
import { VoteConsumer } from './vote-consumer.ts';
import { VoteStream, compareIds } from './vote-stream.ts';

// A bad configuration ends the process with code 2 and the message alone, no stack.
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`consumer: ${err.message}`);
  process.exit(2);
}

const logger = createLogger('consumer', config.LOG_LEVEL);
const keys = redisKeys(config.REDIS_PREFIX);
const target = redisTargetOf(config);
const shards = shardKeys(config.REDIS_PREFIX, config.STREAM_SHARDS ?? null);
const redis = createRedis({ target, role: 'worker', name: `consumer:${config.CONSUMER_NAME}`, logger });
const pool = createPool({ url: config.DATABASE_URL, name: 'livevote-consumer', max: Math.max(config.DATABASE_POOL_MAX, shards.length + 1), logger });
const store = new TallyStore(pool);
const streams = shards.map((k) => new VoteStream(redis, { votes: k.votes, deadLetter: k.deadLetter, unfinished: k.unfinished, tallyChannel: keys.tallyChannel, idempotency: k.idempotency }, config.CONSUMER_NAME));
const metrics = createConsumerMetrics(async () => {
  const all = await Promise.all(streams.map((s) => s.stats()));
  const lags = all.map((s) => s.lag);
  return {
    length: all.reduce((n, s) => n + s.length, 0),
    pending: all.reduce((n, s) => n + s.pending, 0),
    lag: lags.includes(null) ? null : lags.reduce((n: number, l) => n + (l ?? 0), 0),
  };
});
// Test-only fault hooks (FAULT_*), wired only when a drill sets them; see fault-hooks.ts.
const exitAfterCommit = config.FAULT_EXIT_AFTER_COMMIT;
const faulty = exitAfterCommit > 0 || config.FAULT_REJECT_VID_PREFIX !== undefined || config.FAULT_CRASH_VID_PREFIX !== undefined || config.FAULT_ACK_UNCOMMITTED === '1';
if (faulty) logger.warn('test-only fault hooks are on (FAULT_* set): never in production');
const consumerStore = faulty
  ? withFaultHooks(store, {
      rejectVidPrefix: config.FAULT_REJECT_VID_PREFIX,
      crashVidPrefix: config.FAULT_CRASH_VID_PREFIX,
      ackUncommitted: config.FAULT_ACK_UNCOMMITTED === '1',
      afterCommit: () => {
        if (Math.random() >= exitAfterCommit) return;
        logger.warn('fault hook: exiting between COMMIT and XACK');
        process.exit(86);
      },
    })
  : store;
// Applied vote IDs may be pruned only below the oldest entry of every shard: any could re-deliver.
const oldestOfAll = async () => {
  const ids = (await Promise.all(streams.map((s) => s.oldestEntryId()))).filter((id): id is string => id !== null);
  return ids.sort(compareIds)[0] ?? null;
};
// Every consumer process reads every shard, each with its own loop and blocking connection, so
// any number of consumers covers all shards and each shard keeps its own consumer group (the
// exactly-once machinery is per stream, unchanged).
const blockingClients = shards.map((k) =>
  createRedis({ target, role: 'worker', name: `consumer:${config.CONSUMER_NAME}:read${shards.length > 1 ? `:${k.shard}` : ''}`, logger }),
);
const consumers = streams.map((stream, i) => {
  const shard = shards[i]!.shard;
  return new VoteConsumer({
    stream: Object.assign(Object.create(stream) as VoteStream, { oldestEntryId: oldestOfAll }),
    blockingRedis: blockingClients[i]!,
    store: { applyBatch: (votes) => consumerStore.applyBatch(votes, shard), isApplied: (vid) => store.isApplied(vid), pruneAppliedBefore: (cutoff, chunk) => consumerStore.pruneAppliedBefore(cutoff, chunk) },
    metrics,
    logger: shards.length > 1 ? logger.child({ shard }) : logger,
    batchSize: config.BATCH_SIZE,
    blockMs: config.BLOCK_MS,
    claimIdleMs: config.CLAIM_IDLE_MS,
    claimEveryMs: config.CLAIM_EVERY_MS,
    maxDeliveries: config.MAX_DELIVERIES,
    maxCrashes: config.MAX_CRASHES,
    trimEveryMs: config.TRIM_EVERY_MS,
    // One pruner is enough: the cutoff already covers every shard.
    pruneEveryMs: i === 0 ? config.PRUNE_EVERY_MS : Number.MAX_SAFE_INTEGER,
    appliedRetentionMs: config.APPLIED_RETENTION_HOURS * 3_600_000,
    forgetConsumerAfterMs: config.FORGET_CONSUMER_AFTER_MS,
  });
});

const stop = new AbortController();
const ops = createOpsServer({
  registry: metrics.registry,
  ready: async () => {
    if (stop.signal.aborted || !consumers.every((c) => c.ready) || redis.status !== 'ready') return false;
    await store.ping();
    return true;
  },
});
try {
  logger.info({ port: await listen(ops, config.PORT), consumer: config.CONSUMER_NAME }, 'consumer started');
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'cannot listen (check PORT)');
  process.exit(1);
}

// Waits for Redis instead of exiting: a consumer that crash-loops while Redis starts helps no one.
async function connectThenRun(): Promise<void> {
  for (;;) {
    try {
      await Promise.all([waitReady(redis, 30_000), ...blockingClients.map((c) => waitReady(c, 30_000))]);
      break;
    } catch {
      if (stop.signal.aborted) return;
      logger.warn('still waiting for Redis');
    }
  }
  await Promise.all(consumers.map((c) => c.run(stop.signal)));
}
const running = connectThenRun();

async function shutdown(signal: string): Promise<void> {
  if (stop.signal.aborted) return;
  logger.info({ signal }, 'shutting down: finishing the batch in flight');
  const force = setTimeout(() => {
    logger.error('shutdown grace period exceeded; exiting');
    process.exit(1);
  }, config.SHUTDOWN_GRACE_MS);
  force.unref();
  stop.abort();
  await running.catch((err) => logger.error({ err: (err as Error).message }, 'consumer loop failed'));
  ops.close();
  redis.disconnect();
  for (const c of blockingClients) c.disconnect();
  await pool.end().catch(() => {});
  logger.info('consumer stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
