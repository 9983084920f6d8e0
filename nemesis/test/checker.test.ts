import { describe, expect, it } from 'vitest';
import { check, type FinalRecord } from '../src/checker.ts';
import type { Event } from '../src/history.ts';

// The checker over small histories written by hand: a clean one passes, and each promise broken
// once is named, with its votes, the seed and the fault that was active.
const T = 1_000_000;
const meta: Event = { type: 'meta', t: T, seed: 42, mode: 'single', seconds: 10, rate: 1, servers: ['server-1'], faultKinds: [], initialRound: 1 };
const phases: Event[] = [
  { type: 'phase', t: T + 9000, name: 'healed' },
  { type: 'phase', t: T + 9500, name: 'settled' },
];
const vote = (op: number, status: number, extra: Partial<Extract<Event, { type: 'vote' }>> = {}): Extract<Event, { type: 'vote' }> => ({
  type: 'vote', t0: T + op * 10, t1: T + op * 10 + 5, op, attempt: 1, client: 'browser', server: 'server-1', option: 'cats', key: `k${op}`, status, ...extra,
});
const frame = (t: number, seq: number, cats: number | null, extra: Partial<Extract<Event, { type: 'frame' }>> = {}): Event => ({
  type: 'frame', t: T + t, watcher: 'w1', server: 'server-1', round: 1, seq, voting: 'open', results: cats === null ? 'hidden' : 'shown', cats, dogs: cats === null ? null : 0, total: cats, ...extra,
});
function record(applied: [string, number, number][], rounds: [number, number][] = [[1, applied.filter(([, r]) => r === 1).length]]): FinalRecord {
  const byRound = new Map(rounds.map(([r, cats]) => [r, { cats, dogs: 0 }]));
  const current = [...byRound.entries()].at(-1)!;
  return {
    applied: new Map(applied.map(([vid, round, seq]) => [vid, { round, option: 'cats' as const, seq }])),
    rounds: byRound,
    current: { round: current[0], cats: current[1].cats, dogs: 0 },
    deadLettered: new Map(),
  };
}
const run = (events: Event[], final: FinalRecord) => check([meta, ...events, ...phases], final, { seed: 42, convergeLimitMs: 5000 });
const kinds = (events: Event[], final: FinalRecord) => run(events, final).violations.map((v) => v.kind);

describe('the checker', () => {
  it('passes a history where every promise holds, and measures vote-to-screen and convergence', () => {
    const r = run([vote(1, 202), vote(2, 503), { ...vote(2, 202), attempt: 2, t0: T + 40, t1: T + 45 }, frame(100, 1, 2), frame(9200, 1, 2)], record([['k1', 1, 1], ['k2', 1, 1]]));
    expect(r.violations).toEqual([]);
    expect(r.votes).toMatchObject({ accepted: 2, counted: 2, refused: 0 });
    expect(r.voteToScreen.map((v) => v.ms)).toEqual([90]);
    expect(r.convergeMs).toEqual({ w1: 0 });
  });

  it('names a 202 that PostgreSQL does not count, with the fault active then and the seed', () => {
    const fault: Event[] = [
      { type: 'fault', t: T, phase: 'start', id: 1, lane: 'postgres', kind: 'kill-postgres', target: 'postgres' },
      { type: 'fault', t: T + 50, phase: 'end', id: 1, lane: 'postgres', kind: 'kill-postgres', target: 'postgres' },
    ];
    const r = run([...fault, vote(1, 202), vote(2, 202), frame(9200, 1, 1)], record([['k1', 1, 1]]));
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]).toMatchObject({ kind: 'lost', votes: ['k2'] });
    expect(r.violations[0]!.message).toMatch(/seed 42/);
    expect(r.violations[0]!.faults[0]).toMatch(/^kill-postgres on postgres/);
  });

  it('names a refused vote that is counted, and more counted votes than requests could explain', () => {
    expect(kinds([vote(1, 409), frame(9200, 1, 1)], record([['k1', 1, 1]]))).toEqual(['counted-though-refused']);
    expect(kinds([vote(1, 202), frame(9200, 1, 2)], record([['k1', 1, 1], ['stranger', 1, 1]]))).toEqual(['phantom-votes']);
    // A keyless vote without an answer may explain one stranger.
    expect(kinds([vote(1, 202), vote(2, 0, { client: 'api', key: undefined }), frame(9200, 1, 2)], record([['k1', 1, 1], ['stranger', 1, 1]]))).toEqual([]);
  });

  it('wants every unknown vote resolved by GET /api/vote/:id as PostgreSQL has it', () => {
    const unknown = vote(1, 504, { client: 'api-keyed' });
    expect(kinds([unknown, frame(9200, 1, 1)], record([['k1', 1, 1]]))).toEqual(['unknown-unresolved']);
    expect(kinds([unknown, { type: 'resolve', t: T + 9600, id: 'k1', status: 200, counted: false }, frame(9200, 1, 1)], record([['k1', 1, 1]]))).toEqual(['unknown-unresolved']);
    expect(kinds([unknown, { type: 'resolve', t: T + 9600, id: 'k1', status: 200, counted: true }, frame(9200, 1, 1)], record([['k1', 1, 1]]))).toEqual([]);
  });

  it('names tallies that disagree with the applied votes', () => {
    expect(kinds([vote(1, 202), frame(9200, 1, 2)], record([['k1', 1, 1]], [[1, 2]]))).toEqual(['tally-mismatch']);
  });

  it('names a vote counted in a round that was not current, and one counted after the host was answered "closed"', () => {
    const newRound: Event = { type: 'host', t0: T + 5, t1: T + 8, op: 1, attempt: 1, action: 'new-round', key: 'h1', server: 'server-1', status: 201, round: 2 };
    // Sent at T+10, after round 2 was answered at T+8, but counted in round 1.
    expect(kinds([newRound, vote(1, 202), frame(9200, 1, 0, { round: 2 })], record([['k1', 1, 1]], [[1, 1], [2, 0]]))).toContain('wrong-round');
    const close: Event = { type: 'host', t0: T + 1, t1: T + 3, op: 1, attempt: 1, action: 'close', key: 'h1', server: 'server-1', status: 200, round: 1, voting: 'closed', seq: 1 };
    expect(kinds([close, vote(1, 202), frame(9200, 2, 1)], record([['k1', 1, 2]]))).toEqual(['counted-while-closed']);
    // Sent before the close was answered: it may have been accepted in time.
    expect(kinds([{ ...close, t1: T + 12 }, vote(1, 202), frame(9200, 2, 1)], record([['k1', 1, 2]]))).toEqual([]);
  });

  it('names a watcher whose seq or round goes backwards, or that sees more than PostgreSQL holds', () => {
    expect(kinds([vote(1, 202), frame(100, 2, 1), frame(200, 1, 1), frame(9200, 2, 1)], record([['k1', 1, 1]]))).toContain('seq-backwards');
    expect(kinds([vote(1, 202), frame(100, 2, 0, { round: 2 }), frame(9200, 3, 1)], record([['k1', 1, 1]]))).toContain('round-backwards');
    expect(kinds([vote(1, 202), frame(100, 1, 5), frame(9200, 1, 1)], record([['k1', 1, 1]]))).toEqual(['total-above-postgres']);
  });

  it('names numbers on a frame of a hidden round, whether the frame says hidden or follows the host\'s hide', () => {
    expect(kinds([vote(1, 202), frame(100, 1, 1, { results: 'hidden' }), frame(9200, 2, 1)], record([['k1', 1, 1]]))).toEqual(['numbers-while-hidden']);
    const hide: Event = { type: 'host', t0: T + 1, t1: T + 3, op: 1, attempt: 1, action: 'hide', key: 'h1', server: 'server-1', status: 200, round: 1, results: 'hidden', seq: 5 };
    const show: Event = { type: 'host', t0: T + 300, t1: T + 310, op: 2, attempt: 1, action: 'show', key: 'h2', server: 'server-1', status: 200, round: 1, results: 'shown', seq: 8 };
    // seq 4 is from before the hide (a frame in flight): fine; seq 6 is after it: a leak.
    expect(kinds([hide, show, vote(1, 202), frame(100, 4, 1), frame(9200, 9, 1)], record([['k1', 1, 4]]))).toEqual([]);
    expect(kinds([hide, show, vote(1, 202), frame(100, 6, 1), frame(9200, 9, 1)], record([['k1', 1, 4]]))).toEqual(['numbers-while-hidden']);
  });

  it('names a watcher that does not show PostgreSQL\'s totals in time after healing', () => {
    expect(kinds([vote(1, 202), frame(100, 1, 0)], record([['k1', 1, 1]]))).toEqual(['not-converged']);
    expect(kinds([vote(1, 202), frame(100, 1, 0), frame(16_000, 2, 1)], record([['k1', 1, 1]]))).toEqual(['not-converged']);
  });

  it('names a service that exited on its own and a part that was not whole again after healing', () => {
    const ok: Event[] = [vote(1, 202), frame(9200, 1, 1)];
    expect(kinds([...ok, { type: 'exit', t: T + 500, service: 'consumer-1', code: -1 }], record([['k1', 1, 1]]))).toEqual([]);
    expect(kinds([...ok, { type: 'exit', t: T + 500, service: 'consumer-1', code: 1 }], record([['k1', 1, 1]]))).toEqual(['service-exited']);
    const r = run([...ok, { type: 'unhealed', t: T + 8900, part: 'consumer-2', detail: 'not ready at http://127.0.0.1:1/readyz' }], record([['k1', 1, 1]]));
    expect(r.violations).toMatchObject([{ kind: 'not-healed' }]);
    expect(r.violations[0]!.message).toMatch(/consumer-2 .*readyz.*seed 42/);
  });

  it('names a status the API never gives', () => {
    expect(kinds([vote(1, 500), vote(2, 202), frame(9200, 1, 1)], record([['k2', 1, 1]]))).toEqual(['unexpected-status', 'unknown-unresolved']);
  });
});
