import { describe, expect, it } from 'vitest';
import { connectionState, freshness, initialFacts, reconnectDelayMs, transition, type ConnectionEvent } from './connection-state.ts';

function run(events: [number, ConnectionEvent['type']][], online = true) {
  let f = initialFacts(online);
  for (const [at, type] of events) f = transition(f, { type } as ConnectionEvent, at);
  return f;
}

describe('connection state machine', () => {
  it('connecting → live on open', () => {
    expect(connectionState(initialFacts(), 0)).toBe('connecting');
    expect(connectionState(run([[10, 'open']]), 10)).toBe('live');
  });
  it('live → reconnecting on error → live again on the next frame', () => {
    const down = run([[0, 'open'], [1000, 'error']]);
    expect(connectionState(down, 1500)).toBe('reconnecting');
    const back = transition(down, { type: 'frame' }, 4000);
    expect(connectionState(back, 4000)).toBe('live');
    expect(back.downSince).toBeNull();
  });
  it('a failed first connection reads as reconnecting, not connecting', () => {
    expect(connectionState(run([[0, 'error']]), 100)).toBe('reconnecting');
  });
  it('down for too long → offline; repeated errors keep the first down time', () => {
    const f = run([[0, 'open'], [1000, 'error'], [5000, 'error'], [20000, 'error']]);
    expect(f.downSince).toBe(1000);
    expect(connectionState(f, 30_999, 30_000)).toBe('reconnecting');
    expect(connectionState(f, 31_000, 30_000)).toBe('offline');
  });
  it('browser offline wins over everything and online clears it', () => {
    const off = run([[0, 'open'], [10, 'browser-offline']]);
    expect(connectionState(off, 20)).toBe('offline');
    expect(connectionState(transition(off, { type: 'browser-online' }, 30), 30)).toBe('live');
    expect(connectionState(initialFacts(false), 0)).toBe('offline');
  });
});

describe('presenter freshness', () => {
  it('is live while the stream is open, even without votes', () => {
    expect(freshness(run([[0, 'open']]), 60_000)).toBe('live');
  });
  it('turns stale 5 s after the last frame once the stream is down', () => {
    const f = run([[0, 'open'], [1000, 'frame'], [2000, 'error']]);
    expect(freshness(f, 5999)).toBe('live');
    expect(freshness(f, 6000)).toBe('stale');
  });
  it('is stale before anything arrived', () => {
    expect(freshness(initialFacts(), 0)).toBe('stale');
  });
});

describe('reconnectDelayMs', () => {
  it('backs off exponentially to 15 s with jitter', () => {
    expect(reconnectDelayMs(0, () => 0.5)).toBe(1000);
    expect(reconnectDelayMs(1, () => 0.5)).toBe(2000);
    expect(reconnectDelayMs(10, () => 0.5)).toBe(15000);
    expect(reconnectDelayMs(0, () => 0)).toBe(750);
    expect(reconnectDelayMs(0, () => 1)).toBe(1250);
  });
});
