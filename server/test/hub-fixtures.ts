import net from 'node:net';
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
    snapshot: async () => ({ round: 1, voting: 'open', results: 'shown', cats: 0, dogs: 0, total: 0, seq: 0, updatedAt: new Date(0).toISOString() }),
    ...overrides,
  };
}

/** A stream reader on the hub's Unix socket that parses nothing: it keeps the highest `id:` seen. */
export function idReader(sockPath: string): { socket: net.Socket; lastId: () => number } {
  const socket = net.connect(sockPath);
  socket.write('GET /api/stream HTTP/1.1\r\nHost: hub\r\n\r\n');
  let last = -1;
  let tail = '';
  socket.on('data', (d: Buffer) => {
    const text = tail + d.toString();
    for (const m of text.matchAll(/^id: (\d+)$/gm)) last = Math.max(last, Number(m[1]));
    tail = text.slice(-64);
  });
  return { socket, lastId: () => last };
}
