import { describe, expect, it } from 'vitest';
import { newerTally, parseTally } from './tally.ts';

const t = (seq: number, total = seq) => ({ cats: total, dogs: 0, total, seq, updatedAt: '2026-01-01T00:00:00.000Z' });

describe('parseTally', () => {
  it('reads a tally frame', () => {
    expect(parseTally('{"cats":3,"dogs":4,"total":7,"seq":9,"updatedAt":"x"}')).toEqual({ cats: 3, dogs: 4, total: 7, seq: 9, updatedAt: 'x' });
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
    let cur = null as ReturnType<typeof t> | null;
    for (const s of [3, 1, 7, 2, 7, 5, 6]) cur = newerTally(cur, t(s));
    expect(cur?.seq).toBe(7);
  });
});
