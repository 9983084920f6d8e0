/**
 * The checker: over the history alone and a final read of PostgreSQL, what the stack promises.
 * Every violation names its votes (or watcher), the faults active around it and the seed.
 */
import type { Event } from './history.ts';

type VoteEvent = Extract<Event, { type: 'vote' }>;
type HostEvent = Extract<Event, { type: 'host' }>;
type FrameEvent = Extract<Event, { type: 'frame' }>;
type FaultEvent = Extract<Event, { type: 'fault' }>;

/** What PostgreSQL holds at the end. */
export interface FinalRecord {
  /** applied_votes: vote id → the round it counted in, its option and the tally seq that first held it. */
  applied: Map<string, { round: number; option: 'cats' | 'dogs'; seq: number }>;
  /** round_tallies. */
  rounds: Map<number, { cats: number; dogs: number }>;
  /** The current round and its totals. */
  current: { round: number; cats: number; dogs: number };
  /** Vote ids in the dead-letter streams, with the reason. */
  deadLettered: Map<string, string>;
}

export const VIOLATION_KINDS = [
  'lost',
  'counted-though-refused',
  'unknown-unresolved',
  'phantom-votes',
  'tally-mismatch',
  'wrong-round',
  'counted-while-closed',
  'seq-backwards',
  'round-backwards',
  'total-above-postgres',
  'numbers-while-hidden',
  'not-converged',
  'unexpected-status',
  'service-exited',
  'not-healed',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  kind: ViolationKind;
  message: string;
  votes?: string[];
  watcher?: string;
  /** Faults active in the window of the violation. */
  faults: string[];
}

export interface VoteOutcomes {
  ops: number;
  accepted: number;
  refused: number;
  /** Left unknown (504 or no answer) and resolved by GET /api/vote/:id. */
  unknownCounted: number;
  unknownNotCounted: number;
  /** Keyless, no answer: no id to ask about; bounded by the phantom check. */
  unknownNoId: number;
  counted: number;
  statuses: Record<string, number>;
}

export interface CheckResult {
  violations: Violation[];
  votes: VoteOutcomes;
  /** Vote-to-screen: first tap (t) to the first frame holding the vote (ms), a sample of votes on every watcher. */
  voteToScreen: { t: number; ms: number }[];
  /** Per watcher: ms from "healed" until its frames show PostgreSQL's final totals for good. */
  convergeMs: Record<string, number | null>;
}

export interface CheckOptions {
  seed: number;
  /** How long after the stack settled every watcher may take to show the final totals. */
  convergeLimitMs: number;
}

const DEFINITE_REFUSAL = new Set([400, 409, 422, 429, 503]);

interface VoteOp {
  op: number;
  client: VoteEvent['client'];
  key?: string;
  attempts: VoteEvent[];
}

export function check(events: readonly Event[], final: FinalRecord, opts: CheckOptions): CheckResult {
  const violations: Violation[] = [];
  const faults = events.filter((e): e is FaultEvent => e.type === 'fault');
  const faultSpans = spans(faults);
  const activeIn = (from: number, to: number) => faultSpans.filter((f) => f.start <= to && f.end >= from - 2000).map((f) => `${f.kind} on ${f.target} (${new Date(f.start).toISOString().slice(11, 23)}–${f.end === Infinity ? 'never healed' : new Date(f.end).toISOString().slice(11, 23)})`);
  const add = (v: Omit<Violation, 'faults'>, from: number, to: number) => violations.push({ ...v, message: `${v.message} [seed ${opts.seed}]`, faults: activeIn(from, to) });

  // --- services: only the nemesis ends them (SIGKILL, code -1) ---
  for (const e of events) {
    if (e.type === 'exit' && e.code !== -1) add({ kind: 'service-exited', message: `${e.service} exited on its own with code ${e.code} at ${iso(e.t)} (its output: logs/${e.service}.log)` }, e.t - 5000, e.t);
    if (e.type === 'unhealed') add({ kind: 'not-healed', message: `${e.part} was not whole again after every fault was healed: ${e.detail}` }, e.t - 60_000, e.t);
  }

  // --- votes ---
  const statuses: Record<string, number> = {};
  for (const e of events) {
    if (e.type !== 'vote') continue;
    statuses[String(e.status)] = (statuses[String(e.status)] ?? 0) + 1;
    if (![0, 202, 409, 503, 504].includes(e.status)) add({ kind: 'unexpected-status', message: `vote answered ${e.status} by ${e.server}`, votes: [e.key ?? e.id ?? `op ${e.op}`] }, e.t0, e.t1);
  }
  const ops = voteOps(events);
  const resolves = new Map<string, Extract<Event, { type: 'resolve' }>>();
  for (const e of events) if (e.type === 'resolve') resolves.set(e.id, e);

  const known = new Set<string>();
  const outcomes: VoteOutcomes = { ops: ops.length, accepted: 0, refused: 0, unknownCounted: 0, unknownNotCounted: 0, unknownNoId: 0, counted: final.applied.size, statuses };
  const accepted: { id: string; from: number; to: number; tap: number }[] = [];
  for (const op of ops) {
    const c = classify(op);
    if (c.id) known.add(c.id);
    if (c.outcome === 'accepted') {
      outcomes.accepted++;
      const ok = op.attempts.find((a) => a.status === 202)!;
      // Keyed: any earlier attempt that may have stored it could be the one that did.
      const from = op.key ? Math.min(...maybeStored(op).map((a) => a.t0)) : ok.t0;
      accepted.push({ id: c.id, from, to: ok.t1, tap: op.attempts[0]!.t0 });
      if (!final.applied.has(c.id)) {
        const dead = final.deadLettered.get(c.id);
        add({ kind: 'lost', message: `vote ${c.id} answered 202 by ${ok.server} at ${iso(ok.t1)} is not counted${dead ? ` (dead-lettered: ${dead})` : ''}`, votes: [c.id] }, from, ok.t1);
      }
    } else if (c.outcome === 'refused') {
      outcomes.refused++;
      if (c.id && final.applied.has(c.id)) add({ kind: 'counted-though-refused', message: `vote ${c.id} was only ever refused (${op.attempts.map((a) => a.status).join(', ')}) yet is counted`, votes: [c.id] }, op.attempts[0]!.t0, op.attempts.at(-1)!.t1);
    } else if (!c.id) {
      outcomes.unknownNoId++;
    } else {
      const r = resolves.get(c.id);
      const counted = final.applied.has(c.id);
      if (counted) outcomes.unknownCounted++;
      else outcomes.unknownNotCounted++;
      if (!r || r.status !== 200 || r.counted !== counted) {
        add({ kind: 'unknown-unresolved', message: `vote ${c.id} left unknown (${op.attempts.map((a) => a.status).join(', ')}): GET /api/vote/${c.id} ${r ? `answered ${r.status}${r.status === 200 ? ` counted=${r.counted}` : ''}` : 'never asked'}, PostgreSQL ${counted ? 'counts' : 'does not count'} it`, votes: [c.id] }, op.attempts[0]!.t0, op.attempts.at(-1)!.t1);
      }
    }
  }
  const phantoms = [...final.applied.keys()].filter((id) => !known.has(id));
  if (phantoms.length > outcomes.unknownNoId) {
    add({ kind: 'phantom-votes', message: `${phantoms.length} counted votes match no request answered 202 or left unknown (at most ${outcomes.unknownNoId} keyless votes had no answer)`, votes: phantoms.slice(0, 20) }, 0, Infinity);
  }

  // --- tallies against the applied votes ---
  const perRound = new Map<number, { cats: number; dogs: number }>();
  for (const v of final.applied.values()) {
    const t = perRound.get(v.round) ?? { cats: 0, dogs: 0 };
    t[v.option]++;
    perRound.set(v.round, t);
  }
  for (const round of new Set([...perRound.keys(), ...final.rounds.keys()])) {
    const a = perRound.get(round) ?? { cats: 0, dogs: 0 };
    const t = final.rounds.get(round) ?? { cats: 0, dogs: 0 };
    if (a.cats !== t.cats || a.dogs !== t.dogs) add({ kind: 'tally-mismatch', message: `round ${round}: tallies say ${t.cats}/${t.dogs}, its applied votes ${a.cats}/${a.dogs}` }, 0, Infinity);
  }

  // --- rounds and closes, from the host's answers ---
  const hostOps = groupHost(events);
  for (const h of hostOps) {
    for (const a of h.attempts) if (![0, 200, 201, 503, 504].includes(a.status)) add({ kind: 'unexpected-status', message: `host ${a.action} answered ${a.status} by ${a.server}` }, a.t0, a.t1);
  }
  const meta = events.find((e): e is Extract<Event, { type: 'meta' }> => e.type === 'meta');
  const initialRound = meta?.initialRound ?? 1;
  const roundStart = new Map<number, number>([[initialRound, -Infinity]]);
  const roundEnd = new Map<number, number>();
  const openStarts = hostOps.filter((h) => h.action === 'new-round').map((h) => h.attempts[0]!.t0);
  for (const h of hostOps) {
    if (h.action !== 'new-round' || !h.done?.round) continue;
    roundStart.set(h.done.round, h.attempts[0]!.t0);
    roundEnd.set(h.done.round - 1, Math.min(roundEnd.get(h.done.round - 1) ?? Infinity, h.done.t1));
  }
  // Surely closed: from a close answered 2xx until the next open (or new round) was first sent.
  const closedSpans: { round: number; from: number; to: number }[] = [];
  hostOps.forEach((h, i) => {
    if (h.action !== 'close' || !h.done) return;
    const next = hostOps.slice(i + 1).find((n) => n.action === 'open' || n.action === 'new-round');
    closedSpans.push({ round: h.done.round ?? 0, from: h.done.t1, to: next ? next.attempts[0]!.t0 : Infinity });
  });
  for (const v of accepted) {
    const rec = final.applied.get(v.id);
    if (!rec) continue;
    const start = roundStart.get(rec.round) ?? (openStarts.length ? Math.min(...openStarts) : Infinity);
    const end = roundEnd.get(rec.round) ?? Infinity;
    if (start > v.to || end < v.from) {
      add({ kind: 'wrong-round', message: `vote ${v.id} (sent ${iso(v.from)}, answered ${iso(v.to)}) counted in round ${rec.round}, current only ${iso(start)}–${iso(end)}`, votes: [v.id] }, v.from, v.to);
    }
    const closed = closedSpans.find((c) => c.round === rec.round && v.from >= c.from && v.to <= c.to);
    if (closed) add({ kind: 'counted-while-closed', message: `vote ${v.id} sent ${iso(v.from)} after the host was answered "closed" at ${iso(closed.from)} is counted in round ${rec.round}`, votes: [v.id] }, v.from, v.to);
  }

  // --- what the watchers saw ---
  const frames = events.filter((e): e is FrameEvent => e.type === 'frame');
  const byWatcher = new Map<string, FrameEvent[]>();
  for (const f of frames) byWatcher.set(f.watcher, [...(byWatcher.get(f.watcher) ?? []), f]);
  // Visibility by tally seq: a round's changes in seq order; a frame's seq says which it follows.
  const visibility = new Map<number, { seq: number; results: string }[]>();
  for (const h of hostOps) {
    if ((h.action !== 'hide' && h.action !== 'show') || !h.done?.round || h.done.seq === undefined) continue;
    visibility.set(h.done.round, [...(visibility.get(h.done.round) ?? []), { seq: h.done.seq, results: h.action === 'hide' ? 'hidden' : 'shown' }]);
  }
  for (const list of visibility.values()) list.sort((a, b) => a.seq - b.seq);
  for (const [watcher, list] of byWatcher) {
    let prev: FrameEvent | undefined;
    let reported = 0;
    const once = (v: Omit<Violation, 'faults'>, t: number) => {
      if (reported++ < 5) add(v, t - 5000, t);
    };
    for (const f of list) {
      if (prev && f.round < prev.round) once({ kind: 'round-backwards', message: `${watcher} saw round ${f.round} after round ${prev.round} at ${iso(f.t)}`, watcher }, f.t);
      if (prev && f.round === prev.round && f.seq < prev.seq) once({ kind: 'seq-backwards', message: `${watcher} saw seq ${f.seq} after ${prev.seq} in round ${f.round} at ${iso(f.t)}`, watcher }, f.t);
      const pgTotals = final.rounds.get(f.round) ?? { cats: 0, dogs: 0 };
      if ((f.cats ?? 0) > pgTotals.cats || (f.dogs ?? 0) > pgTotals.dogs) {
        once({ kind: 'total-above-postgres', message: `${watcher} saw ${f.cats}/${f.dogs} in round ${f.round} at ${iso(f.t)}; PostgreSQL holds ${pgTotals.cats}/${pgTotals.dogs}`, watcher }, f.t);
      }
      const shown = f.cats !== null || f.dogs !== null || f.total !== null;
      const state = (visibility.get(f.round) ?? []).filter((c) => c.seq <= f.seq).at(-1)?.results;
      if (shown && (f.results === 'hidden' || state === 'hidden')) {
        once({ kind: 'numbers-while-hidden', message: `${watcher} saw numbers ${f.cats}/${f.dogs} at seq ${f.seq} of round ${f.round} (${iso(f.t)}), which the host had hidden`, watcher }, f.t);
      }
      prev = f;
    }
  }

  // --- vote-to-screen: the first frame whose seq holds the vote ---
  const voteToScreen: { t: number; ms: number }[] = [];
  const sample = accepted.filter((_, i) => i % 5 === 0);
  for (const list of byWatcher.values()) {
    const shownFrames = list.filter((f) => f.cats !== null);
    for (const v of sample) {
      const rec = final.applied.get(v.id);
      if (!rec) continue;
      const f = firstAtOrAfter(shownFrames, v.to, (x) => x.round === rec.round && x.seq >= rec.seq);
      if (f) voteToScreen.push({ t: v.tap, ms: Math.max(0, f.t - v.tap) });
    }
  }

  // --- convergence after healing ---
  const phaseAt = (name: string) => events.find((e): e is Extract<Event, { type: 'phase' }> => e.type === 'phase' && e.name === name)?.t ?? Infinity;
  const healed = phaseAt('healed');
  const settled = phaseAt('settled');
  const convergeMs: Record<string, number | null> = {};
  for (const [watcher, list] of byWatcher) {
    const last = list.at(-1)!;
    const matches = (f: FrameEvent) => f.round === final.current.round && f.cats === final.current.cats && f.dogs === final.current.dogs;
    let i = list.length;
    while (i > 0 && matches(list[i - 1]!)) i--;
    const since = i < list.length ? list[i]!.t : null;
    convergeMs[watcher] = since === null ? null : Math.max(0, since - healed);
    if (!matches(last) || since === null || since > settled + opts.convergeLimitMs) {
      add({ kind: 'not-converged', message: `${watcher} last saw round ${last.round} ${last.cats}/${last.dogs} at ${iso(last.t)}; PostgreSQL holds round ${final.current.round} ${final.current.cats}/${final.current.dogs}${since ? `, shown only ${since - settled} ms after the stack settled` : ''}`, watcher }, healed, Infinity);
    }
  }
  for (const [watcher] of byWatcher) if (!(watcher in convergeMs)) convergeMs[watcher] = null;

  return { violations, votes: outcomes, voteToScreen, convergeMs };
}

function voteOps(events: readonly Event[]): VoteOp[] {
  const ops = new Map<number, VoteOp>();
  for (const e of events) {
    if (e.type !== 'vote') continue;
    const op = ops.get(e.op) ?? { op: e.op, client: e.client, ...(e.key ? { key: e.key } : {}), attempts: [] };
    op.attempts.push(e);
    ops.set(e.op, op);
  }
  return [...ops.values()];
}

/** Attempts that may have stored the vote: all but the definite refusals. */
const maybeStored = (op: VoteOp) => op.attempts.filter((a) => !(DEFINITE_REFUSAL.has(a.status) || a.refused));

/** accepted: some attempt 202; refused: every attempt a definite refusal; else unknown. The id, where one is known. */
function classify(op: VoteOp): { outcome: 'accepted' | 'refused' | 'unknown'; id?: string } & ({ outcome: 'accepted'; id: string } | { outcome: 'refused' | 'unknown' }) {
  const ok = op.attempts.find((a) => a.status === 202);
  if (ok) return { outcome: 'accepted', id: op.key ?? ok.id! };
  const maybe = maybeStored(op);
  if (maybe.length === 0) return { outcome: 'refused', ...(op.key ? { id: op.key } : {}) };
  const id = op.key ?? maybe.map((a) => a.id).find(Boolean);
  return { outcome: 'unknown', ...(id ? { id } : {}) };
}

/** The ids of votes whose outcome their client never learned: the run asks `GET /api/vote/:id` about each. */
export function unknownVoteIds(events: readonly Event[]): string[] {
  return voteOps(events).map(classify).filter((c) => c.outcome === 'unknown' && c.id).map((c) => c.id!);
}

interface HostOp {
  op: number;
  action: HostEvent['action'];
  attempts: HostEvent[];
  done?: { t1: number; round?: number; seq?: number };
}

function groupHost(events: readonly Event[]): HostOp[] {
  const ops = new Map<number, HostOp>();
  for (const e of events) {
    if (e.type !== 'host') continue;
    const h = ops.get(e.op) ?? { op: e.op, action: e.action, attempts: [] };
    h.attempts.push(e);
    if (!h.done && e.status >= 200 && e.status < 300) h.done = { t1: e.t1, ...(e.round ? { round: e.round } : {}), ...(e.seq !== undefined ? { seq: e.seq } : {}) };
    ops.set(e.op, h);
  }
  return [...ops.values()].sort((a, b) => a.attempts[0]!.t0 - b.attempts[0]!.t0);
}

/** Fault start/end events paired into spans; one never healed runs to the end. */
export function spans(faults: readonly FaultEvent[]): { id: number; kind: string; target: string; lane: string; start: number; end: number; detail?: string }[] {
  const out = new Map<number, { id: number; kind: string; target: string; lane: string; start: number; end: number; detail?: string }>();
  for (const f of faults) {
    if (f.phase === 'start') out.set(f.id, { id: f.id, kind: f.kind, target: f.target, lane: f.lane, start: f.t, end: Infinity, ...(f.detail ? { detail: f.detail } : {}) });
    else {
      const s = out.get(f.id);
      if (s) s.end = f.t;
    }
  }
  return [...out.values()];
}

function firstAtOrAfter<T extends { t: number }>(list: readonly T[], t: number, ok: (x: T) => boolean): T | undefined {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.t < t) lo = mid + 1;
    else hi = mid;
  }
  for (let i = Math.max(0, lo - 50); i < list.length; i++) if (ok(list[i]!)) return list[i];
  return undefined;
}

const iso = (t: number) => (Number.isFinite(t) ? new Date(t).toISOString().slice(11, 23) : String(t));
