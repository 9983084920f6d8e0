import cluster, { type Worker } from 'node:cluster';
import { createLogger, createOpsServer, listen } from '@livevote/service-kit';
import { AggregatorRegistry } from 'prom-client';
import { isReadyAnswer, READY_ANSWER, READY_QUESTION } from './cluster-messages.ts';
import type { ServerConfig } from './config.ts';

/** How long a server process has to say whether it is ready before it counts as not. */
const READY_ANSWER_MS = 2000;

/**
 * WEB_CONCURRENCY > 1: this process runs that many server processes (node:cluster workers,
 * sharing PORT; each its own Redis subscription, SSE hub and limits) and serves the ops port for
 * them: `/metrics` summed over every process (prom-client's AggregatorRegistry), `/readyz` 200
 * only while every process answers that it is ready. A process that dies after it started is
 * replaced; one that dies before it ever listened ends the primary with its exit code (start-up
 * fails fast, as with one process). SIGTERM is passed to every process, each drains as alone, and
 * the primary exits once all have.
 */
export async function runPrimary(config: ServerConfig): Promise<void> {
  const logger = createLogger('server', config.LOG_LEVEL);
  const aggregator = new AggregatorRegistry();
  const workers = new Set<Worker>();
  const started = new WeakSet<Worker>();
  let stopping = false;
  let exitCode = 0;
  let question = 0;

  const exitWhenAllGone = () => {
    if (workers.size > 0) return;
    ops.close();
    logger.info('server stopped');
    process.exit(exitCode);
  };
  const fork = () => {
    const w = cluster.fork();
    workers.add(w);
    w.once('listening', () => started.add(w));
    w.once('exit', (code, signal) => {
      workers.delete(w);
      if (stopping) return exitWhenAllGone();
      if (!started.has(w)) {
        logger.fatal({ pid: w.process.pid, code, signal }, 'a server process ended before it listened; stopping');
        return void stop(code ?? 1);
      }
      logger.error({ pid: w.process.pid, code, signal }, 'a server process died; starting another');
      fork();
    });
  };

  const askReady = (w: Worker) =>
    new Promise<boolean>((resolve) => {
      const n = ++question;
      const timer = setTimeout(() => done(false), READY_ANSWER_MS);
      const onMessage = (m: unknown) => {
        if (isReadyAnswer(m) && m[READY_ANSWER] === n) done(m.ok);
      };
      const done = (ok: boolean) => {
        clearTimeout(timer);
        w.off('message', onMessage);
        resolve(ok);
      };
      w.on('message', onMessage);
      w.send({ [READY_QUESTION]: n }, (err) => err && done(false));
    });
  const ready = async () => !stopping && workers.size === config.WEB_CONCURRENCY && (await Promise.all([...workers].map(askReady))).every(Boolean);

  const ops = createOpsServer({ registry: { metrics: () => aggregator.clusterMetrics(), contentType: aggregator.contentType }, ready });
  try {
    logger.info({ port: await listen(ops, config.OPS_PORT, config.OPS_HOST), host: config.OPS_HOST, processes: config.WEB_CONCURRENCY }, 'metrics on the ops port');
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'cannot listen on the ops port (check OPS_PORT, OPS_HOST)');
    process.exit(1);
  }

  async function stop(code: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => {
      logger.error('shutdown grace period exceeded; exiting');
      for (const w of workers) w.process.kill('SIGKILL');
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS + 1000);
    force.unref();
    exitCode = code;
    for (const w of workers) w.process.kill('SIGTERM');
    exitWhenAllGone();
  }
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));

  for (let i = 0; i < config.WEB_CONCURRENCY; i++) fork();
}
