/**
 * One server process: listens, and on SIGTERM turns unready, ends SSE streams so browsers
 * reconnect elsewhere, finishes in-flight requests and exits within SHUTDOWN_GRACE_MS. Alone it
 * serves the ops port too; as one of WEB_CONCURRENCY cluster workers it leaves that port to the
 * primary (cluster-primary.ts) and answers its questions: the metrics, and whether it is ready.
 */
import { redisKeys } from '@livevote/contract';
import { createLogger, createOpsServer, createPool, createRedis, listen, publishMessage, redisTargetOf, shardKeys, waitReady } from '@livevote/service-kit';
import http from 'node:http';
import { buildApp, loadClientHandler, withStreamRoute } from './app.ts';
import { compileTrustProxy } from './client-address.ts';
import type { ServerConfig } from './config.ts';
import { createServerMetrics } from './metrics.ts';
import { createRateLimits } from './rate-limits.ts';
import { sampleRedisMemory } from './redis-memory.ts';
import { SseHub } from './sse-hub.ts';
import { TallyReader } from './tally-reader.ts';
import { TallySubscriber } from './tally-subscriber.ts';
import { VoteIntake } from './vote-intake.ts';
import { HostAuth } from './host-auth.ts';
import { HostSessionEpoch } from './host-session-epoch.ts';
import { RoundStore } from './round-store.ts';
import { RoundStateCopy } from './round-state.ts';
import { WatcherCount } from './watcher-count.ts';
import { randomUUID } from 'node:crypto';
import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { isReadyQuestion, READY_ANSWER, READY_QUESTION } from './cluster-messages.ts';

export async function runServerProcess(config: ServerConfig): Promise<void> {
  const logger = createLogger('server', config.LOG_LEVEL);
  const keys = redisKeys(config.REDIS_PREFIX);
  const target = redisTargetOf(config);
  const shards = shardKeys(config.REDIS_PREFIX, config.STREAM_SHARDS ?? null);
  const metrics = createServerMetrics();
  const redis = createRedis({ target, role: 'request', name: 'server', logger, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS });
  // Votes have their own connection with no command timeout: once an XADD is written only its
  // reply tells whether it landed, so VoteIntake bounds the wait itself (VOTE_OUTCOME_WAIT_MS).
  const intakeRedis = createRedis({ target, role: 'request', name: 'server:intake', logger, commandTimeoutMs: null });
  // Host changes and restores wait for REDIS_ACK_REPLICAS like votes: a connection of their own
  // whose command timeout leaves room for that WAIT.
  const roundsRedis = createRedis({ target, role: 'request', name: 'server:rounds', logger, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS + (config.REDIS_ACK_REPLICAS > 0 ? config.REDIS_ACK_TIMEOUT_MS : 0) });
  const subscriberRedis = createRedis({ target, role: 'subscriber', name: 'server:sub', logger });
  const pool = createPool({ url: config.DATABASE_URL, name: 'livevote-server', max: config.DATABASE_POOL_MAX, logger, statementTimeoutMs: 5000 });
  const readPool = config.DATABASE_READ_URL
    ? createPool({ url: config.DATABASE_READ_URL, name: 'livevote-server-read', max: config.DATABASE_POOL_MAX, logger, statementTimeoutMs: 5000 })
    : pool;
  // Start-up fails fast and loudly; after this, Redis trouble is answered with 503s, not exits.
  try {
    await waitReady(redis, 30_000);
    await waitReady(intakeRedis, 30_000);
    await waitReady(roundsRedis, 30_000);
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, `cannot start: Redis unreachable (check ${target.mode === 'standalone' ? 'REDIS_URL' : target.mode === 'sentinel' ? 'REDIS_SENTINELS' : 'REDIS_CLUSTER_NODES'})`);
    process.exit(1);
  }
  const tallies = new TallyReader(pool, { cacheMs: config.RESULTS_CACHE_MS, statusPool: readPool });
  const resyncReader = new TallyReader(pool, 0);
  const hub = new SseHub({
    tickMs: config.SSE_TICK_MS,
    maxFramesPerSec: config.SSE_MAX_FRAMES_PER_SEC,
    heartbeatMs: config.SSE_HEARTBEAT_MS,
    retryMs: config.SSE_RETRY_MS,
    maxClients: config.SSE_MAX_CLIENTS,
    maxPerIp: config.SSE_MAX_PER_IP,
    drainTimeoutMs: config.SSE_DRAIN_TIMEOUT_MS,
    maxQueuedBytes: config.SSE_MAX_QUEUED_BYTES,
    metrics,
    logger,
    // PostgreSQL away: a new watcher still gets the last known tally.
    snapshot: async () => (await tallies.read()).value,
  });
  const subscriber = new TallySubscriber({
    redis: subscriberRedis,
    channel: keys.tallyChannel,
    // A reader of its own: a resync must start a new query, never join one started before the gap.
    reread: () => resyncReader.fresh(),
    onTally: (t) => {
      tallies.observe(t);
      hub.update(t);
    },
    logger,
  });

  const rounds = new RoundStore(pool, { outcomeWaitMs: config.VOTE_OUTCOME_WAIT_MS });
  const hostEpoch = new HostSessionEpoch(pool);
  const stateCopy = new RoundStateCopy({ redis: roundsRedis, keys: shards.map((k) => k.round), rounds, logger, ackReplicas: config.REDIS_ACK_REPLICAS, ackTimeoutMs: config.REDIS_ACK_TIMEOUT_MS });
  const restoreRoundState = () =>
    void stateCopy.restore().catch((err) => logger.warn({ err: (err as Error).message }, 'round state not checked (PostgreSQL or Redis away); retrying'));
  // Each check also re-reads the current round for this process's screens, so a change whose
  // announcement was lost (a publish that failed) reaches them within one period.
  const roundCheck = setInterval(() => {
    restoreRoundState();
    // The request path's reader, never the subscriber's: a resync must not join this query.
    void tallies.fresh().then((t) => hub.update(t), () => {});
  }, config.ROUND_STATE_CHECK_MS);
  roundCheck.unref();
  restoreRoundState();
  const watchers = new WatcherCount({ redis, key: keys.watchers, instance: `${process.env.HOSTNAME ?? 'server'}:${process.pid}:${randomUUID().slice(0, 8)}`, local: () => hub.size, everyMs: config.WATCHERS_REPORT_MS });
  watchers.start();

  let shuttingDown = false;
  const trustProxy = compileTrustProxy(config.TRUST_PROXY);
  const rateLimits = createRateLimits({
    enabled: config.RATE_LIMIT === 'on',
    redis,
    prefix: keys.rateLimit,
    votesPerMinute: config.RATE_LIMIT_VOTES_PER_MIN,
    streamsPerMinute: config.RATE_LIMIT_STREAMS_PER_MIN,
    hostFailuresPerMinute: config.RATE_LIMIT_HOST_FAILURES_PER_MIN,
    metrics,
    logger,
  });
  sampleRedisMemory(redis, metrics, config.REDIS_MEMORY_SAMPLE_MS);
  const ready = async (): Promise<boolean> => {
    // Ready = can take votes (docs: DESIGN "What a 2xx, a 503 and ready mean"): PostgreSQL being
    // away degrades results and vote status, never readiness; but a vote needs the round state in
    // Redis, which a fresh start or a Redis that lost it gets only once PostgreSQL is read.
    if (shuttingDown || redis.status !== 'ready' || intakeRedis.status !== 'ready') return false;
    if (await stateCopy.usable()) return true;
    restoreRoundState();
    return false;
  };
  const app = buildApp({
    intake: new VoteIntake({
      redis: intakeRedis,
      shards,
      ackReplicas: config.REDIS_ACK_REPLICAS,
      ackTimeoutMs: config.REDIS_ACK_TIMEOUT_MS,
      idempotencyWindowSeconds: config.IDEMPOTENCY_WINDOW_SECONDS,
      outcomeWaitMs: config.VOTE_OUTCOME_WAIT_MS,
      stallMs: config.REDIS_COMMAND_TIMEOUT_MS,
      onLateOutcome: (outcome) => metrics.votesLateOutcome.inc({ outcome }),
      onNoRound: restoreRoundState,
    }),
    host: {
      auth: new HostAuth({ token: config.HOST_TOKEN, metrics, rateLimits, epoch: hostEpoch }),
      epoch: hostEpoch,
      rounds,
      stateCopy,
      announce: async (t) => {
        tallies.observe(t);
        hub.update(t);
        await publishMessage(redis, keys.tallyChannel, JSON.stringify(t));
      },
      metrics,
      logger,
    },
    watchers,
    tallies,
    hub,
    metrics,
    logger,
    trustProxy,
    allowedOrigins: config.ALLOWED_ORIGINS,
    rateLimits,
    ready,
    clientHandler: config.CLIENT_DIR ? await loadClientHandler(config.CLIENT_DIR) : undefined,
  });

  void subscriber.start().catch((err) => logger.warn({ err: (err as Error).message }, 'tally subscription not started yet'));

  // Bound before the public port, so whoever waits for the public /readyz can scrape at once; a
  // taken ops port ends start-up like a taken public one: a server nobody can scrape runs blind.
  // A cluster worker has none: the primary sums the workers' metrics on it and asks each one
  // whether it is ready.
  const ops = cluster.isWorker ? null : createOpsServer({ registry: metrics.registry, ready });
  if (ops) {
    try {
      logger.info({ port: await listen(ops, config.OPS_PORT, config.OPS_HOST), host: config.OPS_HOST }, 'metrics on the ops port');
    } catch (err) {
      logger.fatal({ err: (err as Error).message }, 'cannot listen on the ops port (check OPS_PORT, OPS_HOST)');
      process.exit(1);
    }
  } else {
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([metrics.registry]);
    process.on('message', (m: unknown) => {
      if (isReadyQuestion(m)) void ready().then((ok) => ok, () => false).then((ok) => process.send?.({ [READY_ANSWER]: m[READY_QUESTION], ok }));
    });
    // The primary is gone (killed): nobody routes connections here any more.
    process.on('disconnect', () => void shutdown('disconnect'));
  }
  const server = http.createServer(withStreamRoute(app, { hub, metrics, rateLimits, logger, trustProxy, allowedOrigins: config.ALLOWED_ORIGINS }));
  server.listen(config.PORT, () => {
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.PORT;
    logger.info({ port }, 'server listening');
  });
  server.on('error', (err) => {
    logger.fatal({ err: err.message }, 'cannot listen');
    process.exit(1);
  });

  async function shutdown(signal: string): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal, sseClients: hub.size }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown grace period exceeded; exiting');
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS);
    force.unref();
    // Stream ends spread over at most half the grace period; the rest is for requests in flight.
    void hub.close({ spreadMs: Math.min(config.SSE_CLOSE_SPREAD_MS, config.SHUTDOWN_GRACE_MS / 2) });
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    // Closed only after the public port, so the drain itself can still be scraped.
    ops?.close();
    ops?.closeAllConnections();
    clearInterval(roundCheck);
    await watchers.stop();
    redis.disconnect();
    intakeRedis.disconnect();
    roundsRedis.disconnect();
    subscriberRedis.disconnect();
    await pool.end().catch(() => {});
    if (readPool !== pool) await readPool.end().catch(() => {});
    logger.info('server stopped');
    process.exit(0);
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
