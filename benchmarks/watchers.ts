import http from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import type { Stack } from '@livevote/harness';
import { startBareProcess } from './bare-process.ts';
import { waitFor } from './wait-for.ts';

export interface WatcherResult {
  watchers: number;
  votesPerSec: number;
  probes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Probe × watcher pairs where the frame with the vote never arrived. */
  missing: number;
  rssPerWatcherKb: number;
  framesPerSec: number;
  /** The server process's CPU time (user + system) in the vote window per frame it wrote, vote intake included. */
  cpuUsPerFrame: number;
}

/** User + system CPU of a process so far, in ms (/proc/PID/stat fields 14 and 15, in 10 ms ticks). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function post(port: number, key?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/api/vote', method: 'POST', agent, headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end('{"option":"dogs"}');
  });
}

/** Two worker threads holding `n` raw SSE connections to `port`, spread over 127.0.0.x sources. */
function watcherThreads(port: number, n: number) {
  const threads = 2;
  const perSource = 2500;
  const sources = Array.from({ length: Math.ceil(n / perSource) }, (_, i) => `127.0.0.${i + 2}`);
  const workers = Array.from({ length: threads }, (_, t) =>
    new Worker(fileURLToPath(new URL('./watcher-worker.ts', import.meta.url)), {
      workerData: { port, count: Math.floor(n / threads) + (t < n % threads ? 1 : 0), sources, rampBatch: 100 },
    }),
  );
  const ask = <T>(w: Worker, cmd: string, reply: string) =>
    new Promise<T>((resolve, reject) => {
      const onMsg = (m: { cmd: string } & T) => {
        if (m.cmd === reply) {
          w.off('message', onMsg);
          resolve(m);
        }
      };
      w.on('message', onMsg);
      w.once('error', reject);
      w.postMessage({ cmd });
    });
  return { workers, ask };
}

/**
 * `n` watchers connected (ramped), then votes at `rate`/s for `seconds`; every 200 ms one vote
 * is a probe whose send time is noted just before the POST. A probe's latency at a watcher is
 * the arrival of the first frame whose seq includes it (the seq GET /api/vote/:id reports).
 */
export async function measureWatchers(stack: Stack, n: number, rate: number, seconds: number): Promise<WatcherResult> {
  const pid = stack.server.pid!;
  await new Promise((r) => setTimeout(r, 500));
  const rssBefore = rssKb(pid);
  const { workers, ask } = watcherThreads(stack.port, n);
  await Promise.all(workers.map((w) => ask(w, 'open', 'opened')));
  await waitFor(async () => (await metric(stack.opsUrl, 'livevote_sse_clients')) >= n, { what: `${n} watchers connected`, timeoutMs: 60_000 });
  // Idle memory: connected, snapshot written, nothing moving.
  await new Promise((r) => setTimeout(r, 1000));
  const rssIdle = rssKb(pid);

  const framesBefore = await metric(stack.opsUrl, 'livevote_sse_frames_written_total');
  const cpuBefore = cpuMs(pid);
  const probes: { key: string; sentAt: number }[] = [];
  const t0 = performance.now();
  let sent = 0;
  const inflight: Promise<number>[] = [];
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    for (; sent < due; sent++) {
      if (sent % Math.max(1, Math.round(rate / 5)) === 0) {
        const key = `probe-${randomUUID()}`;
        probes.push({ key, sentAt: performance.timeOrigin + performance.now() });
        inflight.push(post(stack.port, key));
      } else {
        inflight.push(post(stack.port));
      }
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - t0) / 1000;
  const framesAfter = await metric(stack.opsUrl, 'livevote_sse_frames_written_total');
  const cpuAfter = cpuMs(pid);

  const seqOf = new Map<string, number>();
  await waitFor(async () => {
    for (const p of probes) {
      if (seqOf.has(p.key)) continue;
      const s = (await (await fetch(`${stack.url}/api/vote/${p.key}`)).json()) as { counted: boolean; seq?: number };
      if (s.counted && s.seq !== undefined) seqOf.set(p.key, s.seq);
    }
    return seqOf.size === probes.length;
  }, { what: 'every probe counted', timeoutMs: 60_000 });
  // Let the last frames land before collecting.
  await new Promise((r) => setTimeout(r, 1000));
  const reports = await Promise.all(workers.map((w) => ask<{ arrivals: number[][] }>(w, 'report', 'report')));
  const latencies: number[] = [];
  let missing = 0;
  for (const { arrivals } of reports) {
    for (const log of arrivals) {
      for (const p of probes) {
        const seq = seqOf.get(p.key)!;
        let found = false;
        for (let i = 0; i < log.length; i += 2) {
          if (log[i]! >= seq) {
            latencies.push(log[i + 1]! - p.sentAt);
            found = true;
            break;
          }
        }
        if (!found) missing++;
      }
    }
  }
  await Promise.all(workers.map((w) => ask(w, 'close', 'closed')));
  await Promise.all(workers.map((w) => w.terminate()));
  latencies.sort((a, b) => a - b);
  return {
    watchers: n,
    votesPerSec: sent / elapsed,
    probes: probes.length,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    missing,
    rssPerWatcherKb: (rssIdle - rssBefore) / n,
    framesPerSec: (framesAfter - framesBefore) / elapsed,
    cpuUsPerFrame: ((cpuAfter - cpuBefore) * 1000) / (framesAfter - framesBefore),
  };
}

export interface FloorResult {
  watchers: number;
  p50Ms: number;
  p99Ms: number;
  framesPerSec: number;
  cpuUsPerFrame: number;
  rssPerWatcherKb: number;
}

/**
 * The floor the server is measured against, in the same run: bare node:http
 * (bare-sse-server.ts) writing one pre-encoded frame to `n` watchers every `tickMs` for
 * `seconds`. Latency is from just before each publish to its frame's arrival at each watcher.
 */
export async function measureBareFanout(n: number, tickMs: number, seconds: number): Promise<FloorResult> {
  const bare = await startBareProcess('bare-sse-server.ts');
  const base = bare.url;
  const pid = bare.pid;
  const { workers, ask } = watcherThreads(Number(new URL(base).port), n);
  try {
    const rssBefore = rssKb(pid);
    await Promise.all(workers.map((w) => ask(w, 'open', 'opened')));
    await waitFor(async () => Number(await (await fetch(`${base}/clients`)).text()) >= n, { what: `${n} watchers on the bare server`, timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 1000));
    const rssIdle = rssKb(pid);
    const cpuBefore = cpuMs(pid);
    const sentAt: number[] = [];
    const t0 = performance.now();
    let seq = 0;
    while (performance.now() - t0 < seconds * 1000) {
      seq++;
      sentAt[seq] = performance.timeOrigin + performance.now();
      await fetch(`${base}/publish?seq=${seq}`, { method: 'POST' });
      const next = t0 + seq * tickMs - performance.now();
      if (next > 0) await new Promise((r) => setTimeout(r, next));
    }
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = cpuMs(pid) - cpuBefore;
    // Let the last frames land before collecting.
    await new Promise((r) => setTimeout(r, 1000));
    const reports = await Promise.all(workers.map((w) => ask<{ arrivals: number[][] }>(w, 'report', 'report')));
    const latencies: number[] = [];
    for (const { arrivals } of reports) {
      for (const log of arrivals) {
        for (let i = 0; i < log.length; i += 2) {
          const at = sentAt[log[i]!];
          if (at !== undefined) latencies.push(log[i + 1]! - at);
        }
      }
    }
    latencies.sort((a, b) => a - b);
    return {
      watchers: n,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      framesPerSec: (seq * n) / elapsed,
      cpuUsPerFrame: (cpu * 1000) / (seq * n),
      rssPerWatcherKb: (rssIdle - rssBefore) / n,
    };
  } finally {
    await Promise.all(workers.map((w) => ask(w, 'close', 'closed').catch(() => {})));
    await Promise.all(workers.map((w) => w.terminate()));
    bare.stop();
  }
}
