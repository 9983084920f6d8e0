/**
 * `npm run bench`: the numbers in docs/performance.md. Not a test: it measures and prints.
 *   1. ingest: POST /api/vote through the real server (Redis XADD, consumer running) vs a bare
 *      node:http server parsing the same JSON, both driven by autocannon; then the server as
 *      BENCH_WEB_CONCURRENCY (2) processes;
 *   2. drain: one consumer emptying a pre-filled stream of BENCH_DRAIN_VOTES votes;
 *   3. watchers: vote-to-screen latency, RSS per idle watcher, frames/s and CPU per frame at each
 *      watcher count, each against a bare node:http fan-out at the same frame rate;
 *   4. redis-memory (only when named in BENCH_PARTS): Redis used_memory under keyed votes with the
 *      consumer running, and with it paused, how long a small Redis takes them until it refuses.
 * Ends with each performance target, its figure and whether it is met.
 * Uses its own database and Redis prefix on TEST_PG_ADMIN_URL / TEST_REDIS_URL, or drives a
 * running stack at BASE_URL for the ingest part.
 */
import os from 'node:os';
import { createTestEnv, startStack } from '@livevote/harness';
import { startBareProcess } from './bare-process.ts';
import { drive } from './ingest.ts';
import { measureDrain } from './drain.ts';
import { measureBareFanout, measureWatchers } from './watchers.ts';
import { measureMemoryAtRates, measureUntilRefused } from './redis-memory.ts';
import { Targets } from './targets.ts';

const num = (name: string, def: number) => Number(process.env[name] ?? def);
const seconds = num('BENCH_SECONDS', 10);
const connections = num('BENCH_CONNECTIONS', 50);
const drainVotes = num('BENCH_DRAIN_VOTES', 200_000);
const watcherLevels = (process.env.BENCH_WATCHERS ?? '1000,5000,10000').split(',').filter(Boolean).map(Number);
const parts = new Set((process.env.BENCH_PARTS ?? 'ingest,drain,watchers').split(','));
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

const T = {
  p99At1k: 'vote-to-screen p99 ≤ 50 ms at 1,000 watchers',
  p99At10k: 'vote-to-screen p99 ≤ 250 ms at 10,000 watchers',
  cpuPerFrame: 'server CPU per frame ≤ 23 µs (the Go peer), at 1,000 watchers',
  rss: 'RSS per idle watcher ≤ 10 KB',
  held100k: '100,000 watchers held',
  ingestRunning: 'ingest ≥ 0.35 of bare node:http, consumer running',
  ingestPaused: 'ingest ≥ 0.5 of bare node:http, consumer paused',
  processes: 'one server process vs two',
  drain: 'drain ≥ 50,000 votes/s',
} as const;
const targets = new Targets(Object.values(T));

console.log(`live vote bench — ${os.cpus().length} cores, ${fmt(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString()}`);

if (parts.has('ingest')) {
  const env = process.env.BASE_URL ? null : await createTestEnv('bench_ingest');
  const stack = env ? await startStack({ ...env, env: { RATE_LIMIT: 'off', LOG_LEVEL: 'warn' } }) : null;
  const target = process.env.BASE_URL ?? stack!.url;
  const bare = await startBareProcess('bare-server.ts');
  try {
    await drive('warm-up', target, 2, connections);
    const api = await drive('express', target, seconds, connections);
    // The same with the consumer hung (SIGSTOP): a burst that Redis absorbs while the consumer
    // is behind, and the API's own cost without the consumer and PostgreSQL sharing the cores.
    let burst: Awaited<ReturnType<typeof drive>> | null = null;
    if (stack) {
      stack.consumers[0]!.pause();
      burst = await drive('express, consumer paused', target, seconds, connections);
      stack.consumers[0]!.resume();
    }
    await drive('warm-up', bare.url, 2, connections);
    const raw = await drive('bare', bare.url, seconds, connections);
    console.log(`\ningest (${seconds}s each, ${connections} connections, autocannon)`);
    for (const r of [api, ...(burst ? [burst] : []), raw]) {
      console.log(`  ${r.label.padEnd(26)} ${fmt(r.requestsPerSec).padStart(7)} req/s   p50 ${r.p50Ms} ms   p99 ${r.p99Ms} ms   non-2xx ${r.non2xx}   errors ${r.errors}`);
    }
    const running = api.requestsPerSec / raw.requestsPerSec;
    targets.record(T.ingestRunning, running, '>=', 0.35, `${fmt(running, 2)} (${fmt(api.requestsPerSec)} of ${fmt(raw.requestsPerSec)} req/s)`);
    if (burst) targets.record(T.ingestPaused, burst.requestsPerSec / raw.requestsPerSec, '>=', 0.5, `${fmt(burst.requestsPerSec / raw.requestsPerSec, 2)}`);
    console.log(`  ratio ${fmt(api.requestsPerSec / raw.requestsPerSec, 2)} of bare node:http with the consumer running` +
      (burst ? `, ${fmt(burst.requestsPerSec / raw.requestsPerSec, 2)} with it paused` : '') + ' (aim ≥ 0.35)');
    // WEB_CONCURRENCY: the same drive against 2 (or more) server processes on the one port.
    for (const n of env ? (process.env.BENCH_WEB_CONCURRENCY ?? '2').split(',').filter(Boolean).map(Number) : []) {
      const e = await createTestEnv(`bench_ingest_${n}`);
      const multi = await startStack({ ...e, env: { RATE_LIMIT: 'off', LOG_LEVEL: 'warn' }, serverEnv: { WEB_CONCURRENCY: String(n) } });
      try {
        await drive('warm-up', multi.url, 2, connections);
        const r = await drive(`express, ${n} processes`, multi.url, seconds, connections);
        console.log(`  ${r.label.padEnd(26)} ${fmt(r.requestsPerSec).padStart(7)} req/s   p50 ${r.p50Ms} ms   p99 ${r.p99Ms} ms   non-2xx ${r.non2xx}   errors ${r.errors}   ratio ${fmt(r.requestsPerSec / raw.requestsPerSec, 2)}, ${fmt(r.requestsPerSec / api.requestsPerSec, 2)}× one process`);
        targets.show(T.processes, `1: ${fmt(api.requestsPerSec)} req/s, ${n}: ${fmt(r.requestsPerSec)} req/s (${fmt(r.requestsPerSec / api.requestsPerSec, 2)}×)`);
      } finally {
        await multi.stop();
        await e.cleanup();
      }
    }
  } finally {
    bare.stop();
    await stack?.stop();
    await env?.cleanup();
  }
}

if (parts.has('drain')) {
  const env = await createTestEnv('bench_drain');
  try {
    const batch = num('BENCH_BATCH_SIZE', 5000);
    const d = await measureDrain(env, drainVotes, batch);
    console.log(`\ndrain (one consumer, BATCH_SIZE ${batch})`);
    console.log(`  ${fmt(d.votes)} votes in ${fmt(d.seconds, 2)} s = ${fmt(d.perSec)} votes/s (aim ≥ 50,000)`);
    targets.record(T.drain, d.perSec, '>=', 50_000, `${fmt(d.perSec)} votes/s`);
  } finally {
    await env.cleanup();
  }
  // STREAM_SHARDS: each shard has its own tally row, so its batches never wait for another's.
  const shardLevels = (process.env.BENCH_SHARDS ?? '').split(',').filter(Boolean).map(Number);
  const drainConsumers = num('BENCH_DRAIN_CONSUMERS', 1);
  for (const shards of shardLevels) {
    const e = await createTestEnv(`bench_drain_${shards}`);
    try {
      const d = await measureDrain(e, drainVotes, num('BENCH_BATCH_SIZE', 5000), shards, drainConsumers);
      console.log(`  STREAM_SHARDS=${shards}, ${drainConsumers} consumer process(es): ${fmt(d.votes)} votes in ${fmt(d.seconds, 2)} s = ${fmt(d.perSec)} votes/s`);
    } finally {
      await e.cleanup();
    }
  }
}

if (parts.has('watchers')) {
  const rate = num('BENCH_VOTE_RATE', 1000);
  const steady = num('BENCH_WATCH_SECONDS', 15);
  console.log(`\nwatchers (votes at ${rate}/s for ${steady}s, probe every 200 ms; latency from just before the POST to the frame)`);
  for (const n of watcherLevels) {
    const env = await createTestEnv(`bench_watch_${n}`);
    const stack = await startStack({
      ...env,
      env: { RATE_LIMIT: 'off', LOG_LEVEL: 'warn' },
      serverEnv: { SSE_MAX_CLIENTS: String(n + 100), SSE_MAX_PER_IP: String(n + 100), SSE_HEARTBEAT_MS: '15000' },
    });
    try {
      const w = await measureWatchers(stack, n, rate, steady);
      console.log(
        `  ${fmt(w.watchers).padStart(6)} watchers: p50 ${fmt(w.p50Ms)} ms  p99 ${fmt(w.p99Ms)} ms  max ${fmt(w.maxMs)} ms  ` +
          `(${w.probes} probes, ${w.missing} missing)  RSS ${fmt(w.rssPerWatcherKb, 1)} KB/watcher  ${fmt(w.framesPerSec)} frames/s  ${fmt(w.cpuUsPerFrame, 1)} µs server CPU/frame  ${fmt(w.votesPerSec)} votes/s`,
      );
      // The floor at the same frame rate: the tick the hub ran at, from the frames it wrote.
      const tickMs = Math.max(1, (n / w.framesPerSec) * 1000);
      await stack.stop();
      const f = await measureBareFanout(n, tickMs, steady);
      console.log(
        `  ${''.padStart(6)}   floor (bare node:http fan-out, a frame every ${fmt(tickMs)} ms): p50 ${fmt(f.p50Ms)} ms  p99 ${fmt(f.p99Ms)} ms  RSS ${fmt(f.rssPerWatcherKb, 1)} KB/watcher  ` +
          `${fmt(f.framesPerSec)} frames/s  ${fmt(f.cpuUsPerFrame, 1)} µs CPU/frame; the server's CPU/frame ${fmt(w.cpuUsPerFrame / f.cpuUsPerFrame, 2)}× the floor's`,
      );
      const floor = `floor p99 ${fmt(f.p99Ms)} ms`;
      if (n === 1000) targets.record(T.p99At1k, w.p99Ms, '<=', 50, `${fmt(w.p99Ms)} ms (${floor})`);
      if (n === 10_000) targets.record(T.p99At10k, w.p99Ms, '<=', 250, `${fmt(w.p99Ms)} ms (${floor})`);
      if (n === 1000) {
        targets.record(T.cpuPerFrame, w.cpuUsPerFrame, '<=', 23, `${fmt(w.cpuUsPerFrame, 1)} µs, vote intake included (${fmt(w.cpuUsPerFrame / f.cpuUsPerFrame, 2)}× the floor's ${fmt(f.cpuUsPerFrame, 1)} µs)`);
      }
      targets.record(T.rss, w.rssPerWatcherKb, '<=', 10, `${fmt(w.rssPerWatcherKb, 1)} KB at ${fmt(n)} watchers (floor ${fmt(f.rssPerWatcherKb, 1)} KB)`);
      if (n >= 100_000) targets.record(T.held100k, n, '>=', 100_000, `${fmt(n)} held, p99 ${fmt(w.p99Ms)} ms, ${fmt(w.rssPerWatcherKb, 1)} KB each`);
    } finally {
      await stack.stop();
      await env.cleanup();
    }
  }
}
if (parts.has('redis-memory')) {
  const rates = (process.env.BENCH_MEMORY_RATES ?? '1000,10000,50000,0').split(',').map(Number);
  const memSeconds = num('BENCH_MEMORY_SECONDS', 20);
  console.log(`\nredis memory (keyed votes, a fresh Idempotency-Key each, ${memSeconds}s per rate, consumer running; Redis as the chart runs it: noeviction)`);
  for (const m of await measureMemoryAtRates(rates, memSeconds)) {
    console.log(
      `  ${(m.targetPerSec ? `${fmt(m.targetPerSec)}/s asked` : 'flat out').padEnd(14)} ${fmt(m.achievedPerSec).padStart(7)} votes/s taken   used_memory median ${fmt(m.medianMb, 2)} MB, max ${fmt(m.maxMb, 2)} MB (${fmt(m.baseMb, 2)} MB before)   ${fmt(m.accepted)} accepted, ${fmt(m.refused)} refused`,
    );
  }
  const maxmemoryMb = num('BENCH_MEMORY_PAUSED_MB', 32);
  const p = await measureUntilRefused(maxmemoryMb, num('BENCH_MEMORY_PAUSED_SECONDS', 120));
  console.log(`  consumer paused, maxmemory ${maxmemoryMb} MB: refused after ${fmt(p.secondsUntilRefused, 1)} s at ${fmt(p.perSec)} votes/s (${fmt(p.acceptedUntilRefused)} accepted, ${fmt(p.bytesPerVoteInFlight)} B per vote in flight)`);
  console.log(`    first refusal: ${p.refusedWith}`);
  console.log(`    after the consumer resumed: ${fmt(p.counted)} counted of ${fmt(p.accepted)} answered 202 (+ the answers in flight when the load stopped); ${fmt(p.refusedButStored)} of ${fmt(p.refused)} refused keys stored`);
  console.log(`    the chart's 400 MB at that rate: about ${fmt((400 * 2 ** 20 * 0.95) / p.bytesPerVoteInFlight / p.perSec / 60, 1)} min of a stopped consumer`);
}
targets.print((line) => console.log(line));
process.exit(0);
