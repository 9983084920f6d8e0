import { describe, expect, it } from 'vitest';
import { VoteRate } from './vote-rate.ts';

describe('VoteRate', () => {
  it('is 0 with fewer than two samples', () => {
    const r = new VoteRate(5000);
    expect(r.perSecond(0)).toBe(0);
    r.add(100, 0);
    expect(r.perSecond(1000)).toBe(0);
  });
  it('measures growth over the window', () => {
    const r = new VoteRate(5000);
    for (let s = 0; s <= 10; s++) r.add(100 + s * 20, s * 1000); // 20 votes/s
    expect(r.perSecond(10_000)).toBeCloseTo(20, 5);
  });
  it('uses the time since the first sample while the window fills', () => {
    const r = new VoteRate(5000);
    r.add(0, 0);
    r.add(30, 2000);
    expect(r.perSecond(2000)).toBeCloseTo(15, 5);
  });
  it('decays to 0 when votes stop', () => {
    const r = new VoteRate(5000);
    r.add(0, 0);
    r.add(50, 1000);
    expect(r.perSecond(1000)).toBeGreaterThan(0);
    expect(r.perSecond(7000)).toBe(0);
  });
  it('starts over when totals go backwards (a reset)', () => {
    const r = new VoteRate(5000);
    r.add(500, 0);
    r.add(10, 1000);
    r.add(20, 2000);
    expect(r.perSecond(2000)).toBeCloseTo(10, 5);
  });
});
