/**
 * One nemesis run: the stack up, clients and faults for `seconds`, every fault healed, the stack
 * settled, unknown votes asked about, the watchers given time to converge, then the checker over
 * the history and a final read of PostgreSQL, and the report.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { CONSUMER_GROUP } from '@livevote/contract';
import { pollUntil } from '@livevote/harness';
import { createLogger, createRedis, shardKeys, waitReady, type RedisClient } from '@livevote/service-kit';
import { check, unknownVoteIds, type CheckResult, type FinalRecord } from './checker.ts';
import { Host, Voters, Watcher } from './clients.ts';
import { History } from './history.ts';
import { FAULT_KINDS, kindsFor, Nemesis, type FaultKind } from './nemesis.ts';
import { writeReport, type Report } from './report.ts';
import { SeededRandom } from './seeded-random.ts';
import { Toxiproxy } from './toxiproxy.ts';
import { REDIS_PREFIX, startTopology, type RedisMode, type Topology } from './topology.ts';

export interface NemesisOptions {
  seconds: number;
  seed: number;
  mode: RedisMode;
  /** Where report.json, report.html and history.jsonl go. */
  outDir: string;
  /** Votes per second, over both servers. */
  rate?: number;
  watchersPerServer?: number;
  /** Fault kinds to draw from (default: every kind the mode has). */
  kinds?: readonly FaultKind[];
  /** Extra consumer environment: the broken-build test's fault hook. */
  consumerEnv?: Record<string, string>;
  /** How long after the stack settled every watcher may take to show the final totals. */
  convergeLimitMs?: number;
  log?: (line: string) => void;
}

export const CONVERGE_LIMIT_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Throws "not yet" until nothing is pending and nothing unread on any shard. */
async function drained(redis: RedisClient, shards: number): Promise<void> {
  for (const k of shardKeys(REDIS_PREFIX, shards)) {
    const groups = (await redis.call('XINFO', 'GROUPS', k.votes)) as unknown[][];
    const group = groups.map((g) => Object.fromEntries(pairs(g))).find((g) => g.name === CONSUMER_GROUP);
    if (!group) throw new Error(`${k.votes}: no consumer group`);
    const info = Object.fromEntries(pairs((await redis.call('XINFO', 'STREAM', k.votes)) as unknown[]));
    if (Number(group.pending) !== 0 || group['last-delivered-id'] !== info['last-generated-id']) {
      throw new Error(`${k.votes}: ${group.pending} pending, delivered up to ${group['last-delivered-id']} of ${info['last-generated-id']}`);
    }
  }
}

function pairs(flat: unknown[]): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([String(flat[i]), flat[i + 1]]);
  return out;
}

async function finalRead(topo: Topology, redis: RedisClient): Promise<FinalRecord> {
  const c = new pg.Client({ connectionString: topo.pg.adminUrl() });
  await c.connect();
  try {
    const applied = new Map<string, { round: number; option: 'cats' | 'dogs'; seq: number }>();
    for (const r of (await c.query<{ vid: string; round: number; option: 'cats' | 'dogs'; seq: string }>('SELECT vid, round, option, seq FROM applied_votes')).rows) {
      applied.set(r.vid, { round: r.round, option: r.option, seq: Number(r.seq) });
    }
    const rounds = new Map<number, { cats: number; dogs: number }>();
    for (const r of (await c.query<{ round: number; cats: string; dogs: string }>('SELECT round, sum(cats) AS cats, sum(dogs) AS dogs FROM round_tallies GROUP BY round')).rows) {
      rounds.set(r.round, { cats: Number(r.cats), dogs: Number(r.dogs) });
    }
    const cur = (await c.query<{ round: number; cats: string; dogs: string }>('SELECT round, cats, dogs FROM current_round')).rows[0]!;
    const deadLettered = new Map<string, string>();
    for (const k of shardKeys(REDIS_PREFIX, topo.shards)) {
      for (const [, fields] of await redis.xrange(k.deadLetter, '-', '+')) {
        const f = Object.fromEntries(pairs(fields));
        deadLettered.set(String(f['f.vid']), String(f.reason));
      }
    }
    return { applied, rounds, current: { round: cur.round, cats: Number(cur.cats), dogs: Number(cur.dogs) }, deadLettered };
  } finally {
    await c.end();
  }
}

export async function runNemesis(o: NemesisOptions): Promise<{ report: Report; result: CheckResult }> {
  const log = o.log ?? ((l: string) => console.log(`nemesis: ${l}`));
  const rate = o.rate ?? 200;
  const kinds = (o.kinds ?? FAULT_KINDS).filter((k) => kindsFor(o.mode).includes(k));
  Toxiproxy.ensureInstalled(log);
  mkdirSync(o.outDir, { recursive: true });
  const work = mkdtempSync(path.join(tmpdir(), 'lv-nemesis-'));
  const history = new History(path.join(o.outDir, 'history.jsonl'));
  const rng = new SeededRandom(o.seed);
  // Forked first and in this order: the schedule depends on the seed alone.
  const faultRng = rng.fork(101);
  const voteRng = rng.fork(202);
  const hostRng = rng.fork(303);

  // Each service's whole output, from this run only.
  const logDir = path.join(o.outDir, 'logs');
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir);
  const topo = await startTopology({ mode: o.mode, dir: work, logDir, ...(o.consumerEnv ? { consumerEnv: o.consumerEnv } : {}), log });
  const admin = createRedis({ target: topo.redis.target, role: 'worker', name: 'nemesis-checker', logger: createLogger('nemesis', 'fatal') });
  const adminNow = async () => {
    await waitReady(admin, 10_000);
    return admin;
  };
  const watchers: Watcher[] = [];
  const notes: string[] = [];
  try {
    await waitReady(admin, 30_000);
    const server0 = topo.servers[0]!;
    const initial = (await (await fetch(`${server0.url}/api/host/round`, { headers: { authorization: `Bearer ${topo.hostToken}` } })).json()) as { round: number };
    const startedAt = Date.now();
    const endAt = startedAt + o.seconds * 1000;
    history.add({ type: 'meta', t: startedAt, seed: o.seed, mode: o.mode, seconds: o.seconds, rate, servers: topo.servers.map((s) => s.name), faultKinds: kinds, initialRound: initial.round });
    history.add({ type: 'phase', t: startedAt, name: 'running' });

    for (const s of topo.servers) for (let i = 0; i < (o.watchersPerServer ?? 4); i++) watchers.push(new Watcher(`${s.name}/w${i + 1}`, s, history));
    for (const w of watchers) w.start();
    // Every exit of a service goes into the history: the nemesis's SIGKILLs, and any other.
    let watching = true;
    [...topo.servers, ...topo.consumers].forEach(async (s) => {
      while (watching) {
        if (!s.proc.running) {
          await sleep(100);
          continue;
        }
        const code = await s.proc.waitExit();
        if (watching) history.add({ type: 'exit', t: Date.now(), service: s.name, code });
      }
    });
    const voters = new Voters(topo.servers, history, voteRng, rate);
    const host = new Host(topo.servers, topo.hostToken, history, hostRng);
    const nemesis = new Nemesis(topo, history, faultRng, kinds, log);
    const over = () => Date.now() >= endAt;
    const voting = voters.run(over);
    const hosting = host.run(over);
    nemesis.start();
    const progress = setInterval(() => {
      const since = Date.now() - 10_000;
      const recent = history.events.filter((e) => e.type === 'vote' && e.t1 >= since) as Extract<(typeof history.events)[number], { type: 'vote' }>[];
      const by = recent.reduce<Record<number, number>>((m, e) => ({ ...m, [e.status]: (m[e.status] ?? 0) + 1 }), {});
      const active = [...nemesis.active.values()].map((f) => `${f.kind}@${f.target}`).join(', ') || 'none';
      log(`${Math.round((Date.now() - startedAt) / 1000)}/${o.seconds} s: answers/10 s ${JSON.stringify(by)}; faults now: ${active}`);
    }, 10_000);
    await Promise.all([voting, hosting]);
    clearInterval(progress);

    history.add({ type: 'phase', t: Date.now(), name: 'healing' });
    log('time is up: healing every fault');
    await nemesis.stop();
    await topo.toxiproxy.reset();
    for (const s of [...topo.servers, ...topo.consumers]) {
      s.proc.resume();
      if (!s.proc.running) await s.proc.start().catch(() => {});
    }
    // A part that does not come back is a finding, not the end of the run: the rest is still checked.
    const unhealed = (part: string, err: unknown) => {
      const detail = (err as Error).message.split('\n')[0]!;
      history.add({ type: 'unhealed', t: Date.now(), part, detail });
      log(`${part} not whole after healing: ${detail}`);
    };
    await topo.redis.waitHealthy(120_000).catch((err) => unhealed('redis', err));
    await Promise.all([...topo.servers, ...topo.consumers].map((s) => s.proc.waitReady().catch((err) => unhealed(s.name, err))));
    history.add({ type: 'phase', t: Date.now(), name: 'healed' });
    log('healed; finishing the clients\' retries');
    await voters.finish();
    // Numbers on every screen for the convergence check, as a host ends an event.
    await host.change('show');

    // A stack that never drains is reported, not waited for: what it did not count shows as lost.
    const drainedIn = await pollUntil('every shard drained', 120_000, async () => drained(await adminNow(), topo.shards), 250).then(
      () => null,
      (err: Error) => err.message,
    );
    if (drainedIn) {
      notes.push(drainedIn);
      log(drainedIn);
    }
    let final = await finalRead(topo, await adminNow());
    history.add({ type: 'phase', t: Date.now(), name: 'settled', detail: { ...final.current } });
    log(`settled: round ${final.current.round} at ${final.current.cats}/${final.current.dogs}, ${final.applied.size} votes counted over all rounds`);

    for (const id of unknownVoteIds(history.events)) {
      for (let attempt = 0; attempt < 20; attempt++) {
        const res = await fetch(`${topo.servers[attempt % 2]!.url}/api/vote/${encodeURIComponent(id)}`).catch(() => null);
        const body = res?.status === 200 ? ((await res.json()) as { counted: boolean; round?: number }) : null;
        if (res?.status === 200 || attempt === 19) {
          history.add({ type: 'resolve', t: Date.now(), id, status: res?.status ?? 0, ...(body ? { counted: body.counted, ...(body.round ? { round: body.round } : {}) } : {}) });
          break;
        }
        await sleep(500);
      }
    }
    const convergeLimitMs = o.convergeLimitMs ?? CONVERGE_LIMIT_MS;
    await pollUntil('every watcher showing the final totals', convergeLimitMs, async () => {
      const behind = watchers.filter((w) => !(w.last && w.last.round === final.current.round && w.last.cats === final.current.cats && w.last.dogs === final.current.dogs));
      if (behind.length) throw new Error(`${behind.map((w) => w.name).join(', ')} behind`);
    }, 250).catch((err: Error) => log(err.message));
    history.add({ type: 'phase', t: Date.now(), name: 'converged' });
    for (const w of watchers) await w.stop();
    watching = false;
    final = await finalRead(topo, await adminNow());
    history.add({ type: 'phase', t: Date.now(), name: 'end' });

    const result = check(history.events, final, { seed: o.seed, convergeLimitMs });
    const report = writeReport(o.outDir, history.events, result, {
      seed: o.seed,
      mode: o.mode,
      seconds: o.seconds,
      faultCounts: Object.fromEntries(nemesis.counts),
      notes: [...notes, ...nemesis.notes, ...(voters.skipped ? [`${voters.skipped} votes not sent: 256 already in flight`] : []), ...host.unfinished.map((k) => `host change ${k} never answered`)],
    });
    return { report, result };
  } finally {
    for (const w of watchers) await w.stop().catch(() => {});
    admin.disconnect();
    await history.close();
    await topo.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
