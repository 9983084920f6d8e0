/**
 * `node benchmarks/capacity-model.ts [watchers] [votesPerSecond] [frameIntervalMs]`: pods, shards and memory for a
 * target load, from the constants measured on the 2-core machine (docs/performance.md, "Capacity:
 * measured, then modelled"; each constant names the command that measured it). A model, not a
 * measurement: it assumes each part scales by adding copies of what was measured, and leaves
 * headroom (`HEADROOM`) so no part runs at its measured ceiling.
 */
export const MEASURED = {
  /** Votes/s one consumer applies for one shard (`BENCH_PARTS=drain BENCH_SHARDS=1 npm run bench`), low end. */
  votesPerSecPerShard: 72_000,
  /** Votes/s PostgreSQL took in all with 4 shards draining on the same 2 cores (`BENCH_SHARDS=4`), low end. */
  pgVotesPerSecPerPrimary: 104_000,
  /** Votes/s one server process takes with the consumer on the same 2 cores (`BENCH_PARTS=ingest`), low end. */
  votesPerSecPerServer: 12_700,
  /** Frames/s one server process writes (the SSE_MAX_FRAMES_PER_SEC cap, measured 19,995 at 10,000 watchers). */
  framesPerSecPerServer: 20_000,
  /** RSS per idle watcher, KB (`BENCH_PARTS=watchers`: 17.5–19.9), plus its 4 KiB queue cap at worst. */
  kbPerWatcher: 20 + 4,
  /** The server's RSS before any watcher, MB (`node benchmarks/sse-memory.ts`). */
  serverBaseMb: 126,
  /** Redis bytes per vote in flight: its stream entry plus, for a keyed vote, the idempotency record (`node benchmarks/capacity-constants.ts`). */
  redisBytesPerVote: 74,
  /** Idempotency records live IDEMPOTENCY_WINDOW_SECONDS (300 s): bytes per keyed vote held that long. */
  redisBytesPerKeyedRecord: 120,
  /** PostgreSQL rows written per vote: one applied_votes row (round_tallies is one row per batch). */
  pgRowsPerVote: 1,
  /** Point reads per vote from the browser: GET /api/vote/:id after the 202, once or twice (counted-watcher.ts). */
  statusReadsPerVote: 2,
  /** Point reads/s one server process answers for GET /api/vote/:id (`node benchmarks/capacity-constants.ts`). */
  statusReadsPerSecPerServer: 11_800,
};

export const HEADROOM = 0.6;
/** SSE_MAX_CLIENTS' default: streams one server process takes. */
const MAX_CLIENTS_PER_SERVER = 10_000;

export interface Plan {
  watchers: number;
  votesPerSec: number;
  shards: number;
  consumerProcesses: number;
  serversForWatchers: number;
  serversForVotes: number;
  serversForStatus: number;
  servers: number;
  serverMemoryMb: number;
  redisMemoryMb: number;
  pgRowsPerSec: number;
  statusReadsPerSec: number;
  /** PostgreSQL primaries' worth of write load, against the measured 2-core figure. */
  pgPrimaryLoad: number;
  frameIntervalMs: number;
}

/**
 * `frameIntervalMs`: how often each screen should get a new tally. Tallies are state, so a
 * longer interval loses nothing but smoothness; it is what a server's frame budget is divided by.
 */
export function plan(watchers: number, votesPerSec: number, frameIntervalMs = 1000, m = MEASURED): Plan {
  const usable = (x: number) => x * HEADROOM;
  const shards = Math.max(1, Math.ceil(votesPerSec / usable(m.votesPerSecPerShard)));
  // Each watcher gets at most one frame per tick; past the frame budget the tick stretches, so a
  // server is sized to keep its watchers at the wanted interval, and within SSE_MAX_CLIENTS.
  const watchersPerServer = Math.min(MAX_CLIENTS_PER_SERVER, usable(m.framesPerSecPerServer) * (frameIntervalMs / 1000));
  const serversForWatchers = Math.ceil(watchers / watchersPerServer);
  const serversForVotes = Math.ceil(votesPerSec / usable(m.votesPerSecPerServer));
  const statusReadsPerSec = votesPerSec * m.statusReadsPerVote;
  const serversForStatus = m.statusReadsPerSecPerServer ? Math.ceil(statusReadsPerSec / usable(m.statusReadsPerSecPerServer)) : 0;
  const servers = Math.max(serversForWatchers, serversForVotes, serversForStatus, 2);
  const perServerWatchers = watchers / servers;
  const interval = Math.max(100, (perServerWatchers / m.framesPerSecPerServer) * 1000);
  // A backlog of 60 s of votes (a consumer restart, a slow database) plus the idempotency window.
  const redisMemoryMb = (votesPerSec * 60 * m.redisBytesPerVote + votesPerSec * 300 * m.redisBytesPerKeyedRecord) / 2 ** 20;
  return {
    watchers,
    votesPerSec,
    shards,
    consumerProcesses: shards,
    serversForWatchers,
    serversForVotes,
    serversForStatus,
    servers,
    serverMemoryMb: Math.ceil(m.serverBaseMb + (perServerWatchers * m.kbPerWatcher) / 1024),
    redisMemoryMb: Math.ceil(redisMemoryMb),
    pgRowsPerSec: votesPerSec * m.pgRowsPerVote,
    statusReadsPerSec,
    pgPrimaryLoad: (votesPerSec * m.pgRowsPerVote) / m.pgVotesPerSecPerPrimary,
    frameIntervalMs: Math.round(interval),
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const watchers = Number(process.argv[2] ?? 1_000_000);
  const votes = Number(process.argv[3] ?? 100_000);
  const interval = Number(process.argv[4] ?? 1000);
  const p = plan(watchers, votes, interval);
  const f = (n: number) => n.toLocaleString('en-US');
  console.log(`capacity model for ${f(watchers)} watchers, ${f(votes)} votes/s, a frame every ${f(interval)} ms (headroom ${HEADROOM * 100} % of each measured ceiling)`);
  console.log(`  stream shards (and consumer processes, one per shard): ${p.shards}`);
  console.log(`  server processes: ${p.servers} (watchers need ${p.serversForWatchers}, votes ${p.serversForVotes}, status reads ${p.serversForStatus})`);
  console.log(`  memory per server: ${f(p.serverMemoryMb)} MB; ${f(Math.round(watchers / p.servers))} watchers each, a frame every ${p.frameIntervalMs} ms`);
  console.log(`  Redis memory for a 60 s backlog + the idempotency window: ${f(p.redisMemoryMb)} MB`);
  console.log(`  PostgreSQL: ${f(p.pgRowsPerSec)} rows/s written (${(p.pgPrimaryLoad * 100).toFixed(0)} % of the 2-core primary measured here), ${f(p.statusReadsPerSec)} point reads/s (vote status: on read replicas, DATABASE_READ_URL)`);
}
