/**
 * The run's clients, each writing every request and answer into the history: voters (as the
 * browser retries, as a plain API client retries, with and without Idempotency-Key), SSE watchers
 * that record every frame and reconnect with Last-Event-ID, and the host at the controls.
 */
import { randomUUID } from 'node:crypto';
import { takeSseFrames } from '@livevote/harness';
import type { History, HostAction, VoteClient } from './history.ts';
import type { SeededRandom } from './seeded-random.ts';
import type { Service } from './topology.ts';

const REQUEST_TIMEOUT_MS = 5000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  body: Record<string, unknown>;
  retryAfterMs: number | null;
  refused: boolean;
}

async function request(url: string, init: RequestInit): Promise<Answer> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    const ra = res.headers.get('retry-after');
    return { status: res.status, body, retryAfterMs: ra === null ? null : Number(ra) * 1000, refused: false };
  } catch (err) {
    // ECONNREFUSED: nothing was sent (the server is down), so it is a clear "not stored".
    const code = (err as { cause?: { code?: string } }).cause?.code;
    return { status: 0, body: {}, retryAfterMs: null, refused: code === 'ECONNREFUSED' };
  }
}

/**
 * Voters at `rate` votes/s over both servers. The mix: 50 % the browser (a key, retried with it
 * until 202 or 409, on the other server as a load balancer would), 20 % an API client with a key
 * (503 retried; 504 or no answer left unknown, asked about at the end), 30 % an API client
 * without one (503 retried as a new request; 504 left unknown with the id it carries).
 */
export class Voters {
  private readonly servers: Service[];
  private readonly history: History;
  private readonly rng: SeededRandom;
  private readonly rate: number;
  private opSeq = 0;
  private inFlight = new Set<Promise<void>>();
  /** Ops not started because too many were in flight (a stalled stack). */
  skipped = 0;
  private finishing = false;

  constructor(servers: Service[], history: History, rng: SeededRandom, rate: number) {
    this.servers = servers;
    this.history = history;
    this.rng = rng;
    this.rate = rate;
  }

  async run(until: () => boolean): Promise<void> {
    const interval = 1000 / this.rate;
    let next = Date.now();
    while (!until()) {
      next += interval;
      if (this.inFlight.size >= 256) this.skipped++;
      else {
        const p = this.op().finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      }
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
    }
  }

  /** Retries still in progress are carried to their end (the browser keeps retrying). */
  async finish(): Promise<void> {
    this.finishing = true;
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  private async op(): Promise<void> {
    const op = ++this.opSeq;
    const r = this.rng.next();
    const client: VoteClient = r < 0.5 ? 'browser' : r < 0.7 ? 'api-keyed' : 'api';
    const option = this.rng.next() < 0.6 ? 'cats' : 'dogs';
    const key = client === 'api' ? undefined : `nem-${op}-${randomUUID().slice(0, 8)}`;
    let serverIndex = op % this.servers.length;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const server = this.servers[serverIndex]!;
      const t0 = Date.now();
      const a = await request(`${server.url}/api/vote`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
        body: JSON.stringify({ option }),
      });
      // 202 carries the vote id; 504 carries it too (`fields.id` in the error body).
      const id = typeof a.body.id === 'string' ? a.body.id : undefined;
      this.history.add({ type: 'vote', t0, t1: Date.now(), op, attempt, client, server: server.name, option, ...(key ? { key } : {}), status: a.status, ...(id ? { id } : {}), ...(a.refused ? { refused: true } : {}) });
      if (a.status === 202 || a.status === 409 || a.status === 422 || a.status === 400) return;
      const definitelyNotStored = a.status === 503 || a.status === 429 || a.refused;
      if (client === 'browser' || definitelyNotStored) {
        // Give up only if the run has long ended (a part that never came back).
        if (this.finishing && Date.now() - started > 180_000) return;
        serverIndex = (serverIndex + 1) % this.servers.length;
        await sleep(Math.min(a.retryAfterMs ?? 500, 2000) * (0.5 + this.rng.next()));
        continue;
      }
      // An API client that cannot tell whether its vote was stored stops (and asks later).
      return;
    }
  }
}

/** One SSE connection per watcher, reconnected with Last-Event-ID; every tally frame recorded. */
export class Watcher {
  readonly name: string;
  private readonly server: Service;
  private readonly history: History;
  private controller = new AbortController();
  private stopped = false;
  private lastId: number | undefined;
  private running: Promise<void> = Promise.resolve();
  last: { t: number; round: number; seq: number; cats: number | null; dogs: number | null } | null = null;

  constructor(name: string, server: Service, history: History) {
    this.name = name;
    this.server = server;
    this.history = history;
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.controller.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.readOnce();
      } catch {
        // dropped or refused: reconnect, as EventSource does
      }
      if (!this.stopped) await sleep(300 + Math.random() * 700);
    }
  }

  private async readOnce(): Promise<void> {
    this.controller = new AbortController();
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.lastId !== undefined) headers['last-event-id'] = String(this.lastId);
    const res = await fetch(`${this.server.url}/api/stream`, { headers, signal: this.controller.signal });
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel();
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    // A paused server sends nothing, not even heartbeats: give up on a silent stream as a
    // browser's network stack would, and reconnect.
    let silence: NodeJS.Timeout | undefined;
    const armSilence = () => {
      clearTimeout(silence);
      silence = setTimeout(() => this.controller.abort(), 20_000);
    };
    armSilence();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        armSilence();
        const taken = takeSseFrames(text + decoder.decode(value, { stream: true }));
        text = taken.rest;
        for (const { id, data: r } of taken.frames) {
          const t = Date.now();
          this.lastId = id;
          this.last = { t, round: r.round, seq: r.seq, cats: r.cats, dogs: r.dogs };
          this.history.add({ type: 'frame', t, watcher: this.name, server: this.server.name, round: r.round, seq: r.seq, voting: r.voting, results: r.results, cats: r.cats, dogs: r.dogs, total: r.total });
        }
      }
    } finally {
      clearTimeout(silence);
    }
  }
}

/**
 * The host at the controls, as the host page does it: each change with an Idempotency-Key,
 * retried with the same key (on either server) until a definite answer.
 */
export class Host {
  private readonly servers: Service[];
  private readonly token: string;
  private readonly history: History;
  private readonly rng: SeededRandom;
  private opSeq = 0;
  private voting: 'open' | 'closed' = 'open';
  private results: 'shown' | 'hidden' = 'shown';
  /** Changes whose outcome was never learned (the run ended first). */
  readonly unfinished: string[] = [];

  constructor(servers: Service[], token: string, history: History, rng: SeededRandom) {
    this.servers = servers;
    this.token = token;
    this.history = history;
    this.rng = rng;
  }

  async run(until: () => boolean): Promise<void> {
    while (!until()) {
      const gap = this.rng.int(3000, 10_000);
      const r = this.rng.next();
      const end = Date.now() + gap;
      while (Date.now() < end && !until()) await sleep(Math.min(250, end - Date.now()));
      if (until()) return;
      // Closed only for a while: an event's host reopens soon, and votes are what is under test.
      const toggleVoting = this.voting === 'closed' ? r < 0.75 : r < 0.45;
      const action: HostAction = r < 0.15 ? 'new-round' : toggleVoting ? (this.voting === 'open' ? 'close' : 'open') : this.results === 'shown' ? 'hide' : 'show';
      await this.change(action);
    }
  }

  /** One change to its definite answer (bounded); returns the final status. */
  async change(action: HostAction, limitMs = 120_000): Promise<number> {
    const op = ++this.opSeq;
    const key = `host-${op}-${randomUUID().slice(0, 8)}`;
    const started = Date.now();
    const body = action === 'new-round' ? undefined : action === 'close' || action === 'open' ? { voting: action === 'close' ? 'closed' : 'open' } : { results: action === 'hide' ? 'hidden' : 'shown' };
    for (let attempt = 1; ; attempt++) {
      const server = this.servers[(op + attempt) % this.servers.length]!;
      const t0 = Date.now();
      const a = await request(`${server.url}${action === 'new-round' ? '/api/host/rounds' : '/api/host/round'}`, {
        method: action === 'new-round' ? 'POST' : 'PATCH',
        headers: { authorization: `Bearer ${this.token}`, 'idempotency-key': key, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const round = typeof a.body.round === 'number' ? a.body.round : undefined;
      const voting = typeof a.body.voting === 'string' ? a.body.voting : undefined;
      const results = typeof a.body.results === 'string' ? a.body.results : undefined;
      const seq = typeof a.body.changedSeq === 'number' ? a.body.changedSeq : typeof a.body.seq === 'number' ? a.body.seq : undefined;
      this.history.add({ type: 'host', t0, t1: Date.now(), op, attempt, action, key, server: server.name, status: a.status, ...(round ? { round } : {}), ...(voting ? { voting } : {}), ...(results ? { results } : {}), ...(seq !== undefined ? { seq } : {}) });
      if (a.status >= 200 && a.status < 300) {
        if (action === 'new-round') {
          this.voting = 'open';
          this.results = 'shown';
        } else if (action === 'close' || action === 'open') this.voting = action === 'close' ? 'closed' : 'open';
        else this.results = action === 'hide' ? 'hidden' : 'shown';
        return a.status;
      }
      if (a.status >= 400 && a.status < 500 && a.status !== 429) return a.status;
      if (Date.now() - started > limitMs) {
        this.unfinished.push(key);
        return a.status;
      }
      await sleep(Math.min(a.retryAfterMs ?? 1000, 2000));
    }
  }
}
