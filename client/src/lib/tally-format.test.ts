import { describe, expect, it } from 'vitest';
import { NBSP, formatCount, formatPercent, formatRate, formatVotes, percentages, shares, shortUrl, tallySummary } from './tally-format.ts';

describe('formatCount', () => {
  it('groups thousands with commas', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1204)).toBe('1,204');
    expect(formatCount(1234567)).toBe('1,234,567');
  });
  it('never shows garbage for bad input', () => {
    expect(formatCount(Number.NaN)).toBe('0');
    expect(formatCount(-5)).toBe('0');
  });
  it('says vote or votes', () => {
    expect(formatVotes(1)).toBe('1 vote');
    expect(formatVotes(0)).toBe('0 votes');
    expect(formatVotes(12000)).toBe('12,000 votes');
  });
  it('formats a rate with one decimal, large ones whole', () => {
    expect(formatRate(2.345)).toBe('2.3');
    expect(formatRate(0)).toBe('0.0');
    expect(formatRate(1234.4)).toBe('1,234');
  });
});

describe('percentages', () => {
  it('gives 0 and 0 without votes', () => {
    expect(percentages(0, 0)).toEqual({ cats: 0, dogs: 0 });
  });
  it('always adds up to 100', () => {
    for (let c = 0; c <= 60; c++) {
      for (let d = 0; d <= 60; d++) {
        if (c + d === 0) continue;
        const p = percentages(c, d);
        expect(p.cats + p.dogs, `${c}:${d}`).toBe(100);
        expect(Math.abs(p.cats - (c * 100) / (c + d)), `${c}:${d}`).toBeLessThan(1);
      }
    }
  });
  it('rounds like people expect', () => {
    expect(percentages(746, 458)).toEqual({ cats: 62, dogs: 38 });
    expect(percentages(1, 2)).toEqual({ cats: 33, dogs: 67 });
    expect(percentages(101, 99)).toEqual({ cats: 51, dogs: 49 }); // 50.5 / 49.5
    expect(percentages(99, 101)).toEqual({ cats: 49, dogs: 51 });
    expect(percentages(5, 0)).toEqual({ cats: 100, dogs: 0 });
  });
  it('gives exact shares for the bars', () => {
    expect(shares(1, 3)).toEqual({ cats: 25, dogs: 75 });
    expect(shares(0, 0)).toEqual({ cats: 0, dogs: 0 });
  });
});

describe('tallySummary', () => {
  it('reads like the live region should', () => {
    expect(tallySummary({ cats: 746, dogs: 458, total: 1204 })).toBe(`Cats 62${NBSP}%, Dogs 38${NBSP}%, 1,204 votes`);
    expect(tallySummary({ cats: 0, dogs: 0, total: 0 })).toBe('No votes yet');
    expect(tallySummary({ cats: 1, dogs: 0, total: 1 })).toBe(`Cats 100${NBSP}%, Dogs 0${NBSP}%, 1 vote`);
    expect(formatPercent(62)).toBe(`62${NBSP}%`);
  });
});

describe('shortUrl', () => {
  it('drops the scheme and a bare slash', () => {
    expect(shortUrl('https://vote.example.org/')).toBe('vote.example.org');
    expect(shortUrl('http://127.0.0.1:3000/')).toBe('127.0.0.1:3000');
    expect(shortUrl('https://example.org/events/kotlin/')).toBe('example.org/events/kotlin');
  });
});
