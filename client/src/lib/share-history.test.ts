import { describe, expect, it } from 'vitest';
import { ShareHistory, chartPoints } from './share-history.ts';
import type { Tally } from './tally.ts';

const t = (round: number, cats: number, dogs: number, results: Tally['results'] = 'shown'): Tally => ({
  round,
  voting: 'open',
  results,
  cats: results === 'hidden' ? 0 : cats,
  dogs: results === 'hidden' ? 0 : dogs,
  total: results === 'hidden' ? 0 : cats + dogs,
  seq: 1,
  updatedAt: '',
});

describe('ShareHistory', () => {
  it('adds a point per change of the numbers, and starts over with a new round', () => {
    const h = new ShareHistory();
    expect(h.add(t(1, 1, 1), 1000)).toBe(true);
    expect(h.add(t(1, 1, 1), 1100)).toBe(false);
    expect(h.add(t(1, 3, 1), 1200)).toBe(true);
    expect(h.points).toEqual([{ at: 1000, cats: 50, total: 2 }, { at: 1200, cats: 75, total: 4 }]);
    expect(h.add(t(2, 0, 2), 1300)).toBe(true);
    expect(h.points).toEqual([{ at: 1300, cats: 0, total: 2 }]);
  });

  it('takes nothing while results are hidden, and nothing with no votes', () => {
    const h = new ShareHistory();
    expect(h.add(t(1, 5, 5, 'hidden'), 1000)).toBe(false);
    expect(h.add(t(1, 0, 0), 1100)).toBe(false);
    expect(h.points).toEqual([]);
  });

  it('thins old points past its cap but keeps the first and the newest', () => {
    const h = new ShareHistory(10);
    for (let i = 1; i <= 40; i++) h.add(t(1, i, 2 * i), i * 100);
    expect(h.points.length).toBeLessThanOrEqual(10);
    expect(h.points[0]!.at).toBe(100);
    expect(h.points.at(-1)!.at).toBe(4000);
  });
});

describe('chartPoints', () => {
  it('maps time across and the share up, 100 % at the top', () => {
    expect(chartPoints([{ at: 0, cats: 0, total: 1 }, { at: 10, cats: 100, total: 2 }, { at: 20, cats: 50, total: 3 }], 200, 100)).toBe('0.0,100.0 100.0,0.0 200.0,50.0');
  });
  it('draws one point as a flat line, and nothing as nothing', () => {
    expect(chartPoints([{ at: 5, cats: 25, total: 1 }], 200, 100)).toBe('0,75.0 200.0,75.0');
    expect(chartPoints([], 200, 100)).toBe('');
  });
});
