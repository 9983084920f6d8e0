import { describe, expect, it } from 'vitest';
import { newerTally, parseTally, type Tally } from './tally.ts';

const t = (seq: number, total = seq) => ({ round: 1, voting: 'open' as const, results: 'shown' as const, cats: total, dogs: 0, total, seq, updatedAt: '2026-01-01T00:00:00.000Z' });

describe('parseTally', () => {
  it('reads a tally frame', () => {
    expect(parseTally('{"round":2,"voting":"closed","results":"shown","cats":3,"dogs":4,"total":7,"seq":9,"updatedAt":"x"}')).toEqual({
      round: 2,
      voting: 'closed',
      results: 'shown',
      cats: 3,
      dogs: 4,
      total: 7,
      seq: 9,
      updatedAt: 'x',
    });
  });
  it('reads a hidden round: no numbers in, zeros and "hidden" out', () => {
    expect(parseTally('{"round":3,"voting":"open","results":"hidden","cats":null,"dogs":null,"total":null,"seq":4,"updatedAt":"x"}')).toEqual({
      round: 3,
      voting: 'open',
      results: 'hidden',
      cats: 0,
      dogs: 0,
      total: 0,
      seq: 4,
      updatedAt: 'x',
    });
  });
  it('reads a server from before rounds as round 1, open, shown', () => {
    expect(parseTally('{"cats":3,"dogs":4,"total":7,"seq":9,"updatedAt":"x"}')).toMatchObject({ round: 1, voting: 'open', results: 'shown', total: 7 });
  });
  it('refuses numbers with "hidden", nulls with "shown", and unknown states', () => {
    expect(parseTally('{"round":1,"voting":"open","results":"hidden","cats":1,"dogs":null,"total":null,"seq":1}')).toBeNull();
    expect(parseTally('{"round":1,"voting":"open","results":"shown","cats":null,"dogs":null,"total":null,"seq":1}')).toBeNull();
    expect(parseTally('{"round":1,"voting":"paused","results":"shown","cats":1,"dogs":0,"total":1,"seq":1}')).toBeNull();
    expect(parseTally('{"round":0,"voting":"open","results":"shown","cats":1,"dogs":0,"total":1,"seq":1}')).toBeNull();
  });
  it('refuses malformed frames instead of throwing', () => {
    expect(parseTally('not json')).toBeNull();
    expect(parseTally('{"cats":-1,"dogs":4,"total":3,"seq":1}')).toBeNull();
    expect(parseTally('{"cats":"3","dogs":4,"total":7,"seq":1}')).toBeNull();
    expect(parseTally(null)).toBeNull();
    expect(parseTally('[]')).toBeNull();
  });
});

describe('newerTally', () => {
  it('never lets a lower or equal seq overwrite a higher one', () => {
    expect(newerTally(t(5), t(4))).toEqual(t(5));
    expect(newerTally(t(5), t(5, 99))).toEqual(t(5));
    expect(newerTally(t(5), t(6))).toEqual(t(6));
    expect(newerTally(null, t(1))).toEqual(t(1));
    expect(newerTally(t(1), null)).toEqual(t(1));
  });
  it('keeps the highest seq whatever order frames arrive in', () => {
    let cur: Tally | null = null;
    for (const s of [3, 1, 7, 2, 7, 5, 6]) cur = newerTally(cur, t(s));
    expect(cur?.seq).toBe(7);
  });
});
