import { Redis } from 'ioredis';
import { shardKeys } from '@livevote/service-kit';
import { results, startStack, type TestEnv } from '@livevote/harness';
import { waitFor } from './wait-for.ts';

/**
 * Pre-fills the stream with `n` votes (pipelined XADD, no consumer running), then starts
 * `consumers` consumer processes and times how long it takes until every vote is in the tallies.
 * `shards` null: the one unsharded stream; a number: STREAM_SHARDS, the votes spread evenly.
 */
export async function measureDrain(
  env: TestEnv,
  n: number,
  batchSize: number,
  shards: number | null = null,
  consumers = 1,
): Promise<{ votes: number; seconds: number; perSec: number }> {
  const redis = new Redis(env.redisUrl);
  const streams = shardKeys(env.redisPrefix, shards);
  const ts = String(Date.now());
  for (let i = 0; i < n; i += 5000) {
    const p = redis.pipeline();
    for (let j = i; j < Math.min(n, i + 5000); j++) {
      p.xadd(streams[j % streams.length]!.votes, '*', 'vid', `bench-${j.toString(36).padStart(8, '0')}`, 'option', j % 2 ? 'cats' : 'dogs', 'ts', ts, 'round', '1');
    }
    await p.exec();
  }
  redis.disconnect();
  const shardEnv: Record<string, string> = shards === null ? {} : { STREAM_SHARDS: String(shards) };
  const stack = await startStack({ ...env, consumers: 0, env: { RATE_LIMIT: 'off', ...shardEnv }, serverEnv: { RESULTS_CACHE_MS: '0' }, consumerEnv: { BATCH_SIZE: String(batchSize) } });
  try {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: consumers }, () => stack.addConsumer()));
    // The consumer's start-up is inside the figure, as it is after a real restart.
    await waitFor(async () => (await results(stack.url)).total >= n, { what: 'stream drained', timeoutMs: 300_000, intervalMs: 20 });
    const seconds = (performance.now() - t0) / 1000;
    return { votes: n, seconds, perSec: n / seconds };
  } finally {
    await stack.stop();
  }
}
