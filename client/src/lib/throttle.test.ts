import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ThrottledAnnouncer } from './throttle.ts';

describe('ThrottledAnnouncer', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it('says the first text at once, then only the latest at most every interval', () => {
    const said: string[] = [];
    const a = new ThrottledAnnouncer((t) => said.push(t), 5000, () => Date.now());
    a.push('Cats 50 %');
    expect(said).toEqual(['Cats 50 %']);
    a.push('Cats 51 %');
    a.push('Cats 52 %');
    vi.advanceTimersByTime(4999);
    expect(said).toEqual(['Cats 50 %']);
    vi.advanceTimersByTime(1);
    expect(said).toEqual(['Cats 50 %', 'Cats 52 %']);
    a.push('Cats 52 %'); // unchanged: nothing
    vi.advanceTimersByTime(10_000);
    expect(said).toHaveLength(2);
    a.push('Cats 53 %'); // long after: at once
    expect(said.at(-1)).toBe('Cats 53 %');
    a.stop();
  });
});
