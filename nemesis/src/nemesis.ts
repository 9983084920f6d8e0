/**
 * The nemesis: lanes of faults running at once, each drawing its next fault, target, duration
 * and pause from its own seeded generator. A lane has one fault at a time and heals it before
 * drawing the next, so faults overlap across lanes (a failover while PostgreSQL is read-only while
 * a consumer is killed), never past what the stack claims to survive: one Redis data node, one
 * Sentinel, one server and one consumer away at a time.
 */
import type { History } from './history.ts';
import type { SeededRandom } from './seeded-random.ts';
import type { Direction } from './toxiproxy.ts';
import type { RedisNodeRef, Service, Topology } from './topology.ts';

export const FAULT_KINDS = [
  'kill-redis-primary',
  'kill-redis-replica',
  'pause-redis-primary',
  'pause-redis-replica',
  'kill-sentinel',
  'pause-sentinel',
  'kill-postgres',
  'pause-postgres',
  'postgres-read-only',
  'kill-consumer',
  'pause-consumer',
  'kill-server',
  'pause-server',
  'link-latency',
  'link-bandwidth',
  'link-timeout',
  'link-reset',
  'link-cut',
  'link-cut-one-way',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

const LINK_KINDS: FaultKind[] = ['link-latency', 'link-bandwidth', 'link-timeout', 'link-reset', 'link-cut', 'link-cut-one-way'];
const LANES: { name: string; kinds: FaultKind[] }[] = [
  { name: 'redis', kinds: ['kill-redis-primary', 'kill-redis-replica', 'pause-redis-primary', 'pause-redis-replica'] },
  { name: 'sentinel', kinds: ['kill-sentinel', 'pause-sentinel'] },
  { name: 'postgres', kinds: ['kill-postgres', 'pause-postgres', 'postgres-read-only'] },
  { name: 'consumers', kinds: ['kill-consumer', 'pause-consumer'] },
  { name: 'servers', kinds: ['kill-server', 'pause-server'] },
  { name: 'network-a', kinds: LINK_KINDS },
  { name: 'network-b', kinds: LINK_KINDS },
];

/** The kinds that make sense for a Redis mode (no replicas or Sentinels in single mode). */
export function kindsFor(mode: Topology['mode']): FaultKind[] {
  return FAULT_KINDS.filter((k) => (mode === 'sentinel' || !k.includes('sentinel')) && (mode !== 'single' || !k.includes('replica')));
}

export interface ActiveFault {
  id: number;
  lane: string;
  kind: FaultKind;
  target: string;
  start: number;
}

interface Applied {
  target: string;
  detail?: string;
  heal: () => Promise<void>;
  /** After healing: wait for the part to be whole again before the lane draws its next fault. */
  settle?: () => Promise<void>;
}

export class Nemesis {
  private readonly topo: Topology;
  private readonly history: History;
  private readonly log: (l: string) => void;
  private readonly lanes: { name: string; kinds: FaultKind[]; rng: SeededRandom }[];
  private readonly stopWaiters = new Set<() => void>();
  private stopped = false;
  private running: Promise<void>[] = [];
  private nextId = 1;
  readonly active = new Map<number, ActiveFault>();
  readonly counts = new Map<FaultKind, number>();
  /** Lanes' problems that did not stop the run (a part slow to come back), for the report. */
  readonly notes: string[] = [];

  constructor(topo: Topology, history: History, rng: SeededRandom, kinds: readonly FaultKind[], log: (l: string) => void) {
    this.topo = topo;
    this.history = history;
    this.log = log;
    const allowed = new Set(kinds);
    // Forked in a fixed order, whichever lanes end up empty: the same seed, the same schedule.
    this.lanes = LANES.map((l, i) => ({ ...l, rng: rng.fork(i + 1) })).map((l) => ({ ...l, kinds: l.kinds.filter((k) => allowed.has(k)) })).filter((l) => l.kinds.length > 0);
  }

  start(): void {
    this.running = this.lanes.map((lane) => this.runLane(lane));
  }

  /** No new fault; the current ones healed (early); resolves once every lane is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.stopWaiters) w();
    await Promise.all(this.running);
  }

  /** Waits `ms`, or less if the nemesis stops meanwhile. */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stopWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stopWaiters.add(done);
    });
  }

  private async runLane(lane: { name: string; kinds: FaultKind[]; rng: SeededRandom }): Promise<void> {
    const { rng } = lane;
    while (!this.stopped) {
      // Drawn before waiting, in one order, so a run's schedule depends on the seed alone.
      const gap = rng.int(2000, 12_000);
      const kind = rng.pick(lane.kinds);
      const duration = kind.startsWith('pause-server') ? rng.int(500, 3000) : rng.int(1000, 8000);
      const pick = rng.next();
      const param = rng.next();
      await this.sleep(gap);
      if (this.stopped) return;
      const id = this.nextId++;
      let applied: Applied;
      try {
        applied = await this.apply(kind, pick, param);
      } catch (err) {
        this.notes.push(`${lane.name}: could not inject ${kind}: ${(err as Error).message.split('\n')[0]}`);
        continue;
      }
      const start = Date.now();
      this.active.set(id, { id, lane: lane.name, kind, target: applied.target, start });
      this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
      this.history.add({ type: 'fault', t: start, phase: 'start', id, lane: lane.name, kind, target: applied.target, ...(applied.detail ? { detail: applied.detail } : {}) });
      this.log(`fault ${id} ${kind} on ${applied.target}${applied.detail ? ` (${applied.detail})` : ''} for ${duration} ms`);
      await this.sleep(duration);
      await this.healNow(lane.name, kind, applied, id);
    }
  }

  private async healNow(lane: string, kind: FaultKind, applied: Applied, id: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await applied.heal();
        break;
      } catch (err) {
        if (attempt >= 20) {
          this.notes.push(`${lane}: healing ${kind} on ${applied.target} failed: ${(err as Error).message.split('\n')[0]}`);
          break;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    this.active.delete(id);
    this.history.add({ type: 'fault', t: Date.now(), phase: 'end', id, lane, kind, target: applied.target });
    try {
      await applied.settle?.();
    } catch (err) {
      this.notes.push(`${lane}: ${applied.target} slow to be whole after ${kind}: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  private async redisNode(role: 'primary' | 'replica', pick: number): Promise<RedisNodeRef> {
    const nodes = (await this.topo.redis.roles()).filter((n) => n.role === role);
    if (nodes.length === 0) throw new Error(`no Redis ${role} now`);
    return { port: nodes[Math.floor(pick * nodes.length)]!.port, kind: 'data' };
  }

  private service(list: Service[], pick: number): Service {
    return list[Math.floor(pick * list.length)]!;
  }

  private async apply(kind: FaultKind, pick: number, param: number): Promise<Applied> {
    const { redis, pg, toxiproxy } = this.topo;
    const redisWhole = () => redis.waitHealthy(90_000);
    switch (kind) {
      case 'kill-redis-primary':
      case 'kill-redis-replica': {
        const node = await this.redisNode(kind === 'kill-redis-primary' ? 'primary' : 'replica', pick);
        await redis.kill(node);
        return { target: `redis-${node.port}`, heal: () => redis.start(node), settle: redisWhole };
      }
      case 'pause-redis-primary':
      case 'pause-redis-replica': {
        const node = await this.redisNode(kind === 'pause-redis-primary' ? 'primary' : 'replica', pick);
        await redis.pause(node);
        return { target: `redis-${node.port}`, heal: () => redis.resume(node), settle: redisWhole };
      }
      case 'kill-sentinel':
      case 'pause-sentinel': {
        const ports = redis.sentinels();
        const node: RedisNodeRef = { port: ports[Math.floor(pick * ports.length)]!, kind: 'sentinel' };
        if (kind === 'kill-sentinel') await redis.kill(node);
        else await redis.pause(node);
        return { target: `sentinel-${node.port}`, heal: () => (kind === 'kill-sentinel' ? redis.start(node) : redis.resume(node)), settle: redisWhole };
      }
      case 'kill-postgres':
        await pg.kill();
        return { target: 'postgres', heal: () => pg.start() };
      case 'pause-postgres':
        pg.pause();
        return { target: 'postgres', heal: async () => pg.resume() };
      case 'postgres-read-only':
        await pg.readOnly(true);
        return { target: 'postgres', heal: () => pg.readOnly(false) };
      case 'kill-consumer':
      case 'kill-server': {
        const s = this.service(kind === 'kill-server' ? this.topo.servers : this.topo.consumers, pick);
        await s.proc.kill();
        return {
          target: s.name,
          heal: async () => {
            // Started, not necessarily ready: Redis or PostgreSQL may be away right now.
            await s.proc.start().catch(() => {});
            if (!s.proc.running) throw new Error(`${s.name} exited during start-up`);
          },
          settle: () => s.proc.waitReady(),
        };
      }
      case 'pause-consumer':
      case 'pause-server': {
        const s = this.service(kind === 'pause-server' ? this.topo.servers : this.topo.consumers, pick);
        s.proc.pause();
        return { target: s.name, heal: async () => s.proc.resume() };
      }
      default:
        return this.linkFault(kind, pick, param, toxiproxy);
    }
  }

  private async linkFault(kind: FaultKind, pick: number, param: number, toxiproxy: Topology['toxiproxy']): Promise<Applied> {
    const link = this.topo.links[Math.floor(pick * this.topo.links.length)]!;
    const name = `nemesis-${kind}`;
    const toxic = async (stream: Direction, t: Parameters<typeof toxiproxy.addToxic>[3], detail: string): Promise<Applied> => {
      await toxiproxy.addToxic(link.name, name, stream, t);
      return { target: link.name, detail, heal: () => toxiproxy.removeToxic(link.name, name) };
    };
    switch (kind) {
      case 'link-latency': {
        const latency = 50 + Math.round(param * 950);
        const jitter = Math.round(latency * 0.3);
        return toxic('downstream', { type: 'latency', attributes: { latency, jitter } }, `${latency}±${jitter} ms`);
      }
      case 'link-bandwidth': {
        const rate = 1 + Math.round(param * 31);
        return toxic('downstream', { type: 'bandwidth', attributes: { rate } }, `${rate} KB/s`);
      }
      case 'link-timeout': {
        const timeout = 200 + Math.round(param * 2800);
        return toxic('upstream', { type: 'timeout', attributes: { timeout } }, `no data, closed after ${timeout} ms`);
      }
      case 'link-reset': {
        const timeout = Math.round(param * 1000);
        return toxic('upstream', { type: 'reset_peer', attributes: { timeout } }, `TCP RST after ${timeout} ms`);
      }
      case 'link-cut-one-way': {
        const stream: Direction = param < 0.5 ? 'upstream' : 'downstream';
        return toxic(stream, { type: 'timeout', attributes: { timeout: 0 } }, `${stream === 'upstream' ? 'service → store' : 'store → service'} dropped`);
      }
      default:
        await toxiproxy.setEnabled(link.name, false);
        return { target: link.name, detail: 'both ways', heal: () => toxiproxy.setEnabled(link.name, true) };
    }
  }
}
