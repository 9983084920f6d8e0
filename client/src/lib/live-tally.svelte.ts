/**
 * The live tally in the browser: one EventSource on /api/stream, a monotonic seq guard, the
 * connection state machine and the votes-per-second figure. Browser-only (start it in an effect).
 */
import { API, getResults, openTallyStream } from './api.ts';
import { EMPTY_TALLY, newerTally, parseTally, type Tally } from './tally.ts';
import {
  connectionState,
  freshness,
  initialFacts,
  reconnectDelayMs,
  transition,
  type ConnectionEvent,
  type ConnectionFacts,
} from './connection-state.ts';
import { VoteRate } from './vote-rate.ts';

/** After this much silence on an open stream, /api/results is asked whether we missed anything. */
const WATCHDOG_MS = 20_000;

export class LiveTally {
  tally: Tally = $state.raw(EMPTY_TALLY);
  facts: ConnectionFacts = $state.raw(initialFacts());
  now = $state(Date.now());
  perSecond = $state(0);

  #es: EventSource | null = null;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #lastActivity = Date.now();
  #probing = false;
  #rate = new VoteRate(5_000);
  #listeners = new Set<(t: Tally) => void>();

  constructor(initial: Tally | null) {
    if (initial) {
      // The server read these totals just now: they count as a fresh frame, so the presenter does
      // not flash "stale" while its stream is still connecting.
      this.tally = initial;
      this.facts = { ...this.facts, lastFrameAt: Date.now() };
      this.#rate.add(initial.total, Date.now());
    }
  }

  get state() {
    return connectionState(this.facts, this.now);
  }

  get freshness() {
    return freshness(this.facts, this.now);
  }

  /** Called with every tally that moved the seq forward. */
  subscribe(fn: (t: Tally) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #apply(next: Tally | null): void {
    const merged = newerTally(this.tally, next);
    if (merged === this.tally) return;
    this.tally = merged!;
    this.#rate.add(merged!.total, Date.now());
    this.perSecond = this.#rate.perSecond(Date.now());
    for (const fn of this.#listeners) fn(merged!);
  }

  #event(e: ConnectionEvent): void {
    this.now = Date.now();
    this.facts = transition(this.facts, e, this.now);
  }

  #connect(): void {
    this.#es?.close();
    const es = openTallyStream();
    this.#es = es;
    es.onopen = () => {
      if (this.#es !== es) return;
      this.#attempt = 0;
      this.#lastActivity = Date.now();
      this.#event({ type: 'open' });
    };
    es.addEventListener(API.tallyEvent, (ev) => {
      if (this.#es !== es) return;
      this.#lastActivity = Date.now();
      this.#event({ type: 'frame' });
      this.#apply(parseTally((ev as MessageEvent<string>).data));
    });
    es.onerror = () => {
      if (this.#es !== es) return;
      this.#event({ type: 'error' });
      // CONNECTING: the browser retries by itself (sending Last-Event-ID). CLOSED: it gave up
      // (an HTTP error such as 429/503 from a gateway), so we try again with backoff.
      if (es.readyState === EventSource.CLOSED) this.#scheduleReconnect();
    };
  }

  #scheduleReconnect(delay = reconnectDelayMs(this.#attempt++)): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#connect();
    }, delay);
  }

  #restart(): void {
    this.#es?.close();
    this.#es = null;
    this.#event({ type: 'error' });
    this.#scheduleReconnect(0);
  }

  async #probe(): Promise<void> {
    this.#probing = true;
    try {
      const fresh = await getResults({ timeoutMs: 5_000 });
      if (fresh && fresh.seq > this.tally.seq) {
        this.#apply(fresh);
        this.#restart(); // the stream missed a frame: it is not healthy
      }
    } catch {
      // No answer, or an HTTP error: an open stream is not to be trusted either.
      if (this.facts.open) this.#restart();
    } finally {
      this.#lastActivity = Date.now();
      this.#probing = false;
    }
  }

  #tick = (): void => {
    this.now = Date.now();
    this.perSecond = this.#rate.perSecond(this.now);
    if (this.facts.open && !this.#probing && this.now - this.#lastActivity > WATCHDOG_MS) void this.#probe();
  };

  #online = (): void => {
    this.#event({ type: 'browser-online' });
    if (!this.facts.open) this.#restart();
  };

  #offline = (): void => {
    this.#event({ type: 'browser-offline' });
  };

  /** Opens the stream; returns the cleanup. */
  start(): () => void {
    this.facts = { ...initialFacts(navigator.onLine), lastFrameAt: this.facts.lastFrameAt };
    this.#connect();
    const ticker = setInterval(this.#tick, 1_000);
    addEventListener('online', this.#online);
    addEventListener('offline', this.#offline);
    return () => {
      clearInterval(ticker);
      removeEventListener('online', this.#online);
      removeEventListener('offline', this.#offline);
      if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
      this.#es?.close();
      this.#es = null;
    };
  }
}
