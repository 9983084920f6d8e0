/**
 * Connection state machine for the live stream, kept free of browser objects so it can be tested.
 *
 * States shown to people:
 * - `connecting`   first connection not open yet (first paint still shows the server-rendered totals)
 * - `live`         the stream is open (the server keeps it busy with heartbeats; a tally frame proves it too)
 * - `reconnecting` the stream dropped and we (or the browser's EventSource) are trying again
 * - `offline`      the browser says it has no network, or the stream has been down for `offlineAfterMs`
 */
export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'offline';

export type ConnectionEvent =
  | { type: 'open' }
  | { type: 'frame' }
  | { type: 'error' }
  | { type: 'browser-offline' }
  | { type: 'browser-online' };

export interface ConnectionFacts {
  /** What `navigator.onLine` last said. */
  browserOnline: boolean;
  /** Whether the stream is open right now. */
  open: boolean;
  /** Whether the stream was ever open in this page's life. */
  everOpen: boolean;
  /** When the stream last went down (ms), while it is down. */
  downSince: number | null;
  /** When the last tally frame arrived (ms). */
  lastFrameAt: number | null;
}

export const DEFAULT_OFFLINE_AFTER_MS = 30_000;
export const DEFAULT_STALE_AFTER_MS = 5_000;

export function initialFacts(browserOnline = true): ConnectionFacts {
  return { browserOnline, open: false, everOpen: false, downSince: null, lastFrameAt: null };
}

export function transition(f: ConnectionFacts, e: ConnectionEvent, now: number): ConnectionFacts {
  switch (e.type) {
    case 'open':
      return { ...f, open: true, everOpen: true, downSince: null };
    case 'frame':
      return { ...f, open: true, everOpen: true, downSince: null, lastFrameAt: now };
    case 'error':
      return { ...f, open: false, downSince: f.downSince ?? now };
    case 'browser-offline':
      return { ...f, browserOnline: false };
    case 'browser-online':
      return { ...f, browserOnline: true };
  }
}

export function connectionState(f: ConnectionFacts, now: number, offlineAfterMs = DEFAULT_OFFLINE_AFTER_MS): ConnectionState {
  if (!f.browserOnline) return 'offline';
  if (f.open) return 'live';
  if (f.downSince !== null && now - f.downSince >= offlineAfterMs) return 'offline';
  if (!f.everOpen && f.downSince === null) return 'connecting';
  return 'reconnecting';
}

/**
 * The presenter's badge. EventSource hides the server's heartbeat comments from scripts, so an
 * open stream stands for "a heartbeat is flowing" (the server writes one every 15 s and the
 * browser notices a dead connection; the live tally also probes /api/results after 20 s of
 * silence and recycles a stream that missed frames). Stale: the stream is not open and no tally
 * frame arrived for `staleAfterMs`.
 */
export function freshness(f: ConnectionFacts, now: number, staleAfterMs = DEFAULT_STALE_AFTER_MS): 'live' | 'stale' {
  if (f.open && f.browserOnline) return 'live';
  if (f.lastFrameAt !== null && now - f.lastFrameAt < staleAfterMs) return 'live';
  return 'stale';
}

/** Reconnect delay after the browser gave up on an EventSource: 1 s, 2 s, 4 s … at most 15 s, with jitter. */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(15_000, 1_000 * 2 ** Math.max(0, attempt));
  return Math.round(base * (0.75 + 0.5 * random()));
}

export const STATE_LABEL: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};
