import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createServerMetrics } from '../src/metrics.ts';
import { SseHub, type SseHubOptions } from '../src/sse-hub.ts';
import { idReader, testHubOptions } from './hub-fixtures.ts';

/**
 * What one client may have queued in user space (Node's buffers, not the kernel's). Runs on a
 * Unix socket, like sse-hub.test.ts: its fixed ~200 KB kernel buffer fills within a burst.
 */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function hubOn(options: Partial<SseHubOptions> & { maxQueuedBytes: number }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'lv-queue-'));
  const metrics = createServerMetrics();
  // A long drain timeout: whatever drops the stuck client here is the byte cap.
  const hub = new SseHub(testHubOptions({ drainTimeoutMs: 60_000, metrics, ...options }));
  const responses: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    responses.push(res);
    void hub.connect(req, res, 'local');
  });
  const sock = path.join(dir, 'hub.sock');
  await new Promise<void>((r) => server.listen(sock, r));
  cleanups.push(async () => {
    hub.close({ spreadMs: 0 });
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  const dropped = async () => (await metrics.sseDropped.get()).values.reduce((n, v) => n + v.value, 0);
  return { hub, responses, sock, dropped };
}

function reader(sock: string): ReturnType<typeof idReader> {
  const r = idReader(sock);
  cleanups.push(() => void r.socket.destroy());
  return r;
}

function stuckClient(sock: string): net.Socket {
  const stuck = net.connect(sock);
  stuck.write('GET /api/stream HTTP/1.1\r\nHost: hub\r\n\r\n');
  stuck.pause();
  cleanups.push(() => void stuck.destroy());
  return stuck;
}

it('holds at most one frame in user space for a client that never reads, while fast clients stay current', async () => {
  const cap = 4096;
  const { hub, responses, sock } = await hubOn({ maxQueuedBytes: cap });
  const good = [reader(sock), reader(sock), reader(sock)];
  stuckClient(sock);
  await expect.poll(() => hub.size, { message: 'four clients connected', timeout: 15_000 }).toBe(4);
  const stuckRes = responses[3]!;
  const at = new Date().toISOString();
  const frameBytes = Buffer.byteLength(`id: 100000\nevent: tally\ndata: ${JSON.stringify({ round: 1, voting: 'open', results: 'shown', cats: 100000, dogs: 0, total: 100000, seq: 100000, updatedAt: at })}\n\n`);
  let seq = 0;
  let maxQueued = 0;
  // Until the hub holds back the stuck client, or far past what its ~200 KB kernel buffer takes.
  while (hub.blockedCount === 0 && seq < 100_000) {
    for (let i = 0; i < 500; i++) {
      seq++;
      hub.update({ round: 1, voting: 'open', results: 'shown', cats: seq, dogs: 0, total: seq, seq, updatedAt: at });
      maxQueued = Math.max(maxQueued, stuckRes.writableLength);
    }
    await expect.poll(() => good.map((g) => g.lastId()), { message: `readers at seq ${seq}`, timeout: 5000, interval: 5 }).toEqual([seq, seq, seq]);
  }
  // More bursts while it is held back: nothing more queues for it.
  for (let burst = 0; burst < 20; burst++) {
    for (let i = 0; i < 500; i++) {
      seq++;
      hub.update({ round: 1, voting: 'open', results: 'shown', cats: seq, dogs: 0, total: seq, seq, updatedAt: at });
      maxQueued = Math.max(maxQueued, stuckRes.writableLength);
    }
    await expect.poll(() => good.map((g) => g.lastId()), { message: `readers at seq ${seq}`, timeout: 5000, interval: 5 }).toEqual([seq, seq, seq]);
  }
  console.info(`never-reading client: at most ${maxQueued} B queued in user space (a frame is ${frameBytes} B, cap ${cap} B) after ${seq} tallies`);
  expect(hub.blockedCount, 'the stuck client is held back').toBe(1);
  // One frame, plus its chunked-encoding framing (hex length and CRLFs).
  expect(maxQueued, 'bytes queued in user space for the stuck client').toBeLessThanOrEqual(frameBytes + 16);
});

it('drops a client at once when its queued bytes pass SSE_MAX_QUEUED_BYTES, and only it', async () => {
  // A cap of 0: the first byte the kernel does not take is past it.
  const { hub, sock, dropped } = await hubOn({ maxQueuedBytes: 0 });
  const good = [reader(sock), reader(sock), reader(sock)];
  stuckClient(sock);
  await expect.poll(() => hub.size, { message: 'four clients connected', timeout: 15_000 }).toBe(4);
  const at = new Date().toISOString();
  let seq = 0;
  while ((await dropped()) === 0 && seq < 100_000) {
    for (let i = 0; i < 500; i++) {
      seq++;
      hub.update({ round: 1, voting: 'open', results: 'shown', cats: seq, dogs: 0, total: seq, seq, updatedAt: at });
    }
    await expect.poll(() => good.map((g) => g.lastId()), { message: `readers at seq ${seq}`, timeout: 5000, interval: 5 }).toEqual([seq, seq, seq]);
  }
  console.info(`cap 0: stuck client dropped after ${seq} tallies`);
  expect(await dropped(), 'the stuck client dropped without waiting for the 60 s drain timeout').toBe(1);
  expect(hub.size).toBe(3);
});
