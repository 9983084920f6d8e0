/**
 * The consumer process: stream → PostgreSQL → publish. Fails fast on bad configuration,
 * retries dependencies forever at run time, and on SIGTERM finishes the batch in flight.
 */
import { redisKeys } from '@livevote/contract';
import { ConfigError, createLogger, createPool, createRedis, waitReady } from '@livevote/service-kit';
import { loadConfig } from './config.ts';
import { createConsumerMetrics } from './metrics.ts';
import { withFaultHooks } from './fault-hooks.ts';
import { createOpsServer } from './ops-server.ts';
import { TallyStore } from './tally-store.ts';
import { VoteConsumer } from './vote-consumer.ts';
import { VoteStream } from './vote-stream.ts';

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
const redis = createRedis({ url: config.REDIS_URL, role: 'worker', name: `consumer:${config.CONSUMER_NAME}`, logger });
const blockingRedis = createRedis({
  url: config.REDIS_URL,
  role: 'worker',
  name: `consumer:${config.CONSUMER_NAME}:read`,
  logger,
});
const pool = createPool({ url: config.DATABASE_URL, name: 'livevote-consumer', max: 4, logger });
const store = new TallyStore(pool);
const stream = new VoteStream(redis, keys, config.CONSUMER_NAME);
const metrics = createConsumerMetrics(() => stream.stats());
// Test-only fault hooks (FAULT_*), wired only when a drill sets them; see fault-hooks.ts.
const exitAfterCommit = config.FAULT_EXIT_AFTER_COMMIT;
const faulty = exitAfterCommit > 0 || config.FAULT_REJECT_VID_PREFIX !== undefined;
if (faulty) logger.warn('test-only fault hooks are on (FAULT_* set): never in production');
const consumerStore = faulty
  ? withFaultHooks(store, {
      rejectVidPrefix: config.FAULT_REJECT_VID_PREFIX,
      afterCommit: () => {
        if (Math.random() >= exitAfterCommit) return;
        logger.warn('fault hook: exiting between COMMIT and XACK');
        process.exit(86);
      },
    })
  : store;
const consumer = new VoteConsumer({
  stream,
  blockingRedis,
  store: consumerStore,
  metrics,
  logger,
  batchSize: config.BATCH_SIZE,
  blockMs: config.BLOCK_MS,
  claimIdleMs: config.CLAIM_IDLE_MS,
  claimEveryMs: config.CLAIM_EVERY_MS,
  maxDeliveries: config.MAX_DELIVERIES,
  trimEveryMs: config.TRIM_EVERY_MS,
  pruneEveryMs: config.PRUNE_EVERY_MS,
  appliedRetentionMs: config.APPLIED_RETENTION_HOURS * 3_600_000,
  forgetConsumerAfterMs: config.FORGET_CONSUMER_AFTER_MS,
});

const stop = new AbortController();
const ops = createOpsServer({
  registry: metrics.registry,
  ready: async () => {
    if (stop.signal.aborted || !consumer.ready || redis.status !== 'ready') return false;
    await store.ping();
    return true;
  },
});
ops.listen(config.PORT, () => {
  const addr = ops.address();
  logger.info({ port: typeof addr === 'object' && addr ? addr.port : config.PORT, consumer: config.CONSUMER_NAME }, 'consumer started');
});

// Waits for Redis instead of exiting: a consumer that crash-loops while Redis starts helps no one.
async function connectThenRun(): Promise<void> {
  for (;;) {
    try {
      await Promise.all([waitReady(redis, 30_000), waitReady(blockingRedis, 30_000)]);
      break;
    } catch {
      if (stop.signal.aborted) return;
      logger.warn('still waiting for Redis');
    }
  }
  await consumer.run(stop.signal);
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
  blockingRedis.disconnect();
  await pool.end().catch(() => {});
  logger.info('consumer stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
