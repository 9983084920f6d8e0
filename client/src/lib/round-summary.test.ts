import { describe, expect, it } from 'vitest';
import { roundSummary } from './round-summary.ts';
import type { Tally } from './tally.ts';

const t = (over: Partial<Tally>): Tally => ({ round: 3, voting: 'closed', results: 'shown', cats: 0, dogs: 0, total: 0, seq: 1, updatedAt: '', ...over });

describe('roundSummary', () => {
  it('names the winner with both shares and totals once voting is closed', () => {
    expect(roundSummary(t({ cats: 62, dogs: 38, total: 100 }))).toEqual({
      winner: 'cats',
      headline: 'Round 3: Cats win!',
      detail: 'Cats 62\u00a0% (62 votes) · Dogs 38\u00a0% (38 votes) · 100 votes in all',
    });
    expect(roundSummary(t({ cats: 1, dogs: 2, total: 3 }))?.winner).toBe('dogs');
  });
  it('calls a tie a tie', () => {
    expect(roundSummary(t({ cats: 5, dogs: 5, total: 10 }))).toMatchObject({ winner: 'tie', headline: 'Round 3: a tie!' });
  });
  it('says nothing while voting is open, while results are hidden, or without votes', () => {
    expect(roundSummary(t({ voting: 'open', cats: 1, dogs: 0, total: 1 }))).toBeNull();
    expect(roundSummary(t({ results: 'hidden' }))).toBeNull();
    expect(roundSummary(t({}))).toBeNull();
  });
});
