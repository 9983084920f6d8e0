import { pino } from 'pino';
import { createServerMetrics } from '../src/metrics.ts';
import type { SseHubOptions } from '../src/sse-hub.ts';

/** Hub options for tests that drive an SseHub directly: no tick, no frame budget, a quiet log. */
export function testHubOptions(overrides: Partial<SseHubOptions> = {}): SseHubOptions {
  return {
    tickMs: 0,
    maxFramesPerSec: 10_000_000,
    heartbeatMs: 60_000,
    retryMs: 1000,
    maxClients: 100,
    maxPerIp: 100,
    drainTimeoutMs: 500,
    maxQueuedBytes: 4096,
    metrics: createServerMetrics(),
    logger: pino({ level: 'silent' }),
    snapshot: async () => ({ cats: 0, dogs: 0, total: 0, seq: 0, updatedAt: new Date(0).toISOString() }),
    ...overrides,
  };
}
