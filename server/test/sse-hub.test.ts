import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createServerMetrics } from '../src/metrics.ts';
import { SseHub } from '../src/sse-hub.ts';
import { idReader, testHubOptions } from './hub-fixtures.ts';

/**
 * The slow-reader case runs the hub on a real HTTP server over a Unix socket. Over loopback
 * TCP the kernel autotunes a stuck socket's buffers to megabytes, so filling them takes many
 * minutes of frames; a Unix socket's fixed ~200 KB buffer fills within seconds. The hub's code
 * path (write → false → wait for drain → drop) is the same on both.
 */
let dir: string;
let server: http.Server;
let hub: SseHub;
const metrics = createServerMetrics();
const sockPath = () => path.join(dir, 'hub.sock');

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'lv-hub-'));
  hub = new SseHub(testHubOptions({ metrics }));
  server = http.createServer((req, res) => void hub.connect(req, res, 'local'));
  await new Promise<void>((r) => server.listen(sockPath(), r));
});
afterAll(async () => {
  hub.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const reader = () => idReader(sockPath());

it('keeps every other screen current while one never reads, and drops the one that does not', async () => {
  const good = [reader(), reader(), reader()];
  const stuck = net.connect(sockPath());
  stuck.write('GET /api/stream HTTP/1.1\r\nHost: hub\r\n\r\n');
  stuck.pause();
  await expect.poll(() => hub.size, { message: 'four clients connected', timeout: 15_000 }).toBe(4);

  const at = new Date().toISOString();
  let seq = 0;
  const dropped = async () => (await metrics.sseDropped.get()).values[0]?.value ?? 0;
  // Bounded: at most 200,000 frames, far more than the ~200 KB a Unix socket buffers.
  while (hub.blockedCount === 0 && seq < 200_000) {
    for (let i = 0; i < 500; i++) {
      seq++;
      hub.update({ round: 1, voting: 'open', results: 'shown', cats: seq, dogs: 0, total: seq, seq, updatedAt: at });
    }
    // The readers keep up with every burst although one socket has stopped reading.
    await expect.poll(() => good.map((g) => g.lastId()), { message: `readers at seq ${seq}`, timeout: 5000, interval: 5 }).toEqual([seq, seq, seq]);
  }
  expect(hub.blockedCount).toBe(1);
  // Still blocked after the drain timeout: the hub drops it, and only it.
  await expect.poll(dropped, { message: 'the stuck client dropped', timeout: 5000 }).toBe(1);
  expect(hub.size).toBe(3);
  seq++;
  hub.update({ round: 1, voting: 'open', results: 'shown', cats: seq, dogs: 0, total: seq, seq, updatedAt: at });
  await expect.poll(() => good.map((g) => g.lastId()), { message: 'readers current after the drop', timeout: 15_000 }).toEqual([seq, seq, seq]);
  for (const g of good) g.socket.destroy();
  stuck.destroy();
});

it('while results are hidden, takes the last host change\'s seq for the frame and ignores tallies that only counted votes', () => {
  const h = new SseHub(testHubOptions({ metrics: createServerMetrics() }));
  const hidden = { round: 3, voting: 'open', results: 'hidden', cats: 4, dogs: 1, total: 5, updatedAt: '2026-12-07T10:00:05.000Z', changedSeq: 40, changedAt: '2026-12-07T10:00:00.000Z' } as const;
  h.update({ ...hidden, seq: 40 });
  expect(h.latestSeq).toBe(40);
  // Votes counted while hidden: the real seq moves, the frame's does not, so nothing is written.
  for (const seq of [41, 45, 60]) h.update({ ...hidden, seq, cats: seq });
  expect(h.latestSeq).toBe(40);
  // A host change (closing voting) moves it; so does the reveal, above every hidden one.
  h.update({ ...hidden, voting: 'closed', seq: 61, changedSeq: 61 });
  expect(h.latestSeq).toBe(61);
  h.update({ ...hidden, results: 'shown', seq: 62, changedSeq: 62 });
  expect(h.latestSeq).toBe(62);
  h.close();
});
