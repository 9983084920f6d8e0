import type { RedisClient } from '@livevote/service-kit';
import type { ServerMetrics } from './metrics.ts';

/**
 * Samples Redis `used_memory` and `maxmemory` (INFO memory, O(1) on the Redis side) into the
 * `livevote_redis_*` gauges, at once and then every `intervalMs`. The server does it because the
 * server is what Redis refuses once full (noeviction: every vote 503s); the consumer does not
 * write keys that grow. Each replica reports the same numbers; alerts take max(). A failed
 * sample keeps the last value (Redis being away has its own signals: readiness, 503s).
 */
export function sampleRedisMemory(redis: RedisClient, metrics: ServerMetrics, intervalMs: number): () => void {
  const sample = async () => {
    try {
      const info = await redis.info('memory');
      const used = /^used_memory:(\d+)/m.exec(info);
      const max = /^maxmemory:(\d+)/m.exec(info);
      if (used) metrics.redisMemoryUsed.set(Number(used[1]));
      if (max) metrics.redisMaxmemory.set(Number(max[1]));
    } catch {
      // keep the last value
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
