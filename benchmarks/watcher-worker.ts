/**
 * Holds many raw SSE connections in one worker thread and notes when each frame arrives.
 * Raw sockets, not EventSource: at 10,000 watchers the client's own overhead would dominate
 * what is measured. It only reads `id:` lines, which carry the tally seq.
 */
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

interface Job {
  port: number;
  count: number;
  /** Source addresses to spread connections over (one address holds ~28k ports). */
  sources: string[];
  rampBatch: number;
}

const job = workerData as Job;
const now = () => performance.timeOrigin + performance.now();
/** Per connection: seq and arrival time of each frame, flattened. */
const arrivals: number[][] = [];
const sockets: net.Socket[] = [];

function open(i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const log: number[] = [];
    arrivals.push(log);
    const s = net.connect({ port: job.port, host: '127.0.0.1', localAddress: job.sources[i % job.sources.length] });
    sockets.push(s);
    let tail = '';
    let ok = false;
    s.setNoDelay(true);
    s.on('connect', () => s.write('GET /api/stream HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n'));
    s.on('data', (d: Buffer) => {
      const t = now();
      const text = tail + d.toString('latin1');
      if (!ok) {
        if (!text.startsWith('HTTP/1.1 200')) return reject(new Error(`stream refused: ${text.slice(0, 40)}`));
        ok = true;
        resolve();
      }
      for (const m of text.matchAll(/\nid: (\d+)\n/g)) log.push(Number(m[1]), t);
      tail = text.slice(-24);
    });
    s.on('error', reject);
  });
}

parentPort!.on('message', async (msg: { cmd: string }) => {
  if (msg.cmd === 'open') {
    for (let i = 0; i < job.count; i += job.rampBatch) {
      const batch = [];
      for (let j = i; j < Math.min(job.count, i + job.rampBatch); j++) batch.push(open(j));
      await Promise.all(batch);
    }
    parentPort!.postMessage({ cmd: 'opened' });
  } else if (msg.cmd === 'report') {
    parentPort!.postMessage({ cmd: 'report', arrivals });
  } else if (msg.cmd === 'close') {
    for (const s of sockets) s.destroy();
    parentPort!.postMessage({ cmd: 'closed' });
  }
});
