import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { SSE_EVENT_TALLY, type RoundTally } from '@livevote/contract';
import { publicResults } from './results-view.ts';
import type { Logger } from 'pino';
import { encode, SseClient, type Encoded } from './sse-client.ts';
import { sendError } from './http-errors.ts';
import type { ServerMetrics } from './metrics.ts';

export interface SseHubOptions {
  tickMs: number;
  /**
   * Frames per second this process may write in all. With many clients the tick stretches to
   * clients / maxFramesPerSec, so fan-out stays within what the machine (and, co-located, the
   * kernel delivering to each socket) can do instead of piling up behind the votes.
   */
  maxFramesPerSec: number;
  heartbeatMs: number;
  retryMs: number;
  maxClients: number;
  maxPerIp: number;
  drainTimeoutMs: number;
  /**
   * Bytes one client may have queued in Node's buffers (user space). The hub writes to a client
   * only when its queue is empty, so it holds at most one frame; past this cap it is dropped at
   * once. Memory bound: clients × this + the per-client cost.
   */
  maxQueuedBytes: number;
  metrics: ServerMetrics;
  logger: Logger;
  /** The current round for a client that connects before any tally arrived. */
  snapshot: () => Promise<RoundTally>;
}

export interface TallyUpdate extends RoundTally {
  /** Receive time of the oldest vote in the tally's batch (epoch ms), when known. */
  oldestTs?: number | undefined;
}

interface Frame extends Encoded {
  seq: number;
  text: string;
}

const HEARTBEAT = encode(':\n\n');

/**
 * Fans the latest tally out to every SSE client of this process. Tallies are state, not events:
 * the hub keeps only the newest, and writes at most one frame per client per tick (leading edge:
 * the first change after a quiet tick goes out at once), so the cost grows with clients × ticks,
 * never with the vote rate.
 */
export class SseHub {
  private readonly options: SseHubOptions;
  private readonly clients = new Set<SseClient>();
  private readonly blocked = new Set<SseClient>();
  private readonly perIp = new Map<string, number>();
  /** The stream request each connection carries: one per connection (see `admit`). */
  private readonly streamOf = new WeakMap<Socket, IncomingMessage>();
  private latest: Frame | null = null;
  private pendingOldestTs: number | undefined;
  private lastFlush = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly sweeper: NodeJS.Timeout;
  private closing = false;
  /** Settles once `close` has ended the last stream. */
  private closedAll: Promise<void> = Promise.resolve();

  constructor(options: SseHubOptions) {
    this.options = options;
    this.heartbeat = setInterval(() => this.beat(), options.heartbeatMs);
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, options.drainTimeoutMs));
    this.heartbeat.unref();
    this.sweeper.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Clients held back because bytes written earlier are still queued. */
  get blockedCount(): number {
    return this.blocked.size;
  }

  get latestSeq(): number {
    return this.latest?.seq ?? -1;
  }

  /**
   * Accepts a tally; a public seq not above the last is ignored, so frames never go backwards,
   * and while results are hidden (the public seq stays at the last host change's) a batch of
   * votes writes no frame at all.
   */
  update(t: TallyUpdate): void {
    // Redacted here, once per tally: a frame never carries hidden numbers.
    const data = publicResults(t);
    if (this.latest && data.seq <= this.latest.seq) return;
    const text = `id: ${data.seq}\nevent: ${SSE_EVENT_TALLY}\ndata: ${JSON.stringify(data)}\n\n`;
    this.latest = { seq: data.seq, text, ...encode(text) };
    if (t.oldestTs !== undefined) this.pendingOldestTs = Math.min(this.pendingOldestTs ?? t.oldestTs, t.oldestTs);
    if (this.timer) return;
    const tick = Math.max(this.options.tickMs, (this.clients.size / this.options.maxFramesPerSec) * 1000);
    const wait = this.lastFlush + tick - Date.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  /**
   * One stream per connection. Call for every request, before anything asynchronous: HTTP/1.1
   * answers pipelined requests in order, so whatever follows a stream on its connection waits
   * (its writes buffered in Node) until the stream ends, and no status can be sent for it.
   * A request behind a stream therefore closes the connection, the stream with it; browsers
   * never pipeline. Returns false when the request was refused that way.
   */
  admit(req: IncomingMessage, res: ServerResponse, isStream: boolean): boolean {
    const socket = req.socket;
    const owner = this.streamOf.get(socket);
    if (owner && owner !== req) {
      this.options.metrics.sseRejected.inc({ reason: 'pipelined' });
      this.options.logger.info('closing a connection that pipelined a request behind an SSE stream');
      socket.destroy();
      return false;
    }
    if (isStream && !owner) {
      this.streamOf.set(socket, req);
      res.once('close', () => {
        if (this.streamOf.get(socket) === req) this.streamOf.delete(socket);
      });
    }
    return true;
  }

  /** A `retry:` hint jittered over [retryMs, 2 × retryMs), so browsers do not all return at once. */
  private retryLine(): string {
    return `retry: ${this.options.retryMs + Math.floor(Math.random() * this.options.retryMs)}\n\n`;
  }

  /** Answers `GET /api/stream`. Refusals carry Retry-After; Last-Event-ID just gets the current state. */
  async connect(req: IncomingMessage, res: ServerResponse, ip: string): Promise<void> {
    if (!this.admit(req, res, true)) return;
    const refuse = (status: number, reason: string, message: string, retryAfterSeconds: number) => {
      this.options.metrics.sseRejected.inc({ reason });
      sendError(res, status, message, { retryAfterSeconds });
    };
    if (this.closing) return refuse(503, 'shutting_down', 'shutting down', 1);
    if (this.clients.size >= this.options.maxClients) return refuse(503, 'server_full', 'too many connections on this server', 5);
    if ((this.perIp.get(ip) ?? 0) >= this.options.maxPerIp) return refuse(429, 'address_full', 'too many connections from this address', 10);

    const client = new SseClient(res, ip, (c) => this.drained(c));
    this.add(client);
    req.on('close', () => this.remove(client));
    res.on('error', () => this.remove(client));

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.socket?.setNoDelay(true);
    // One write: the hint and, when there is one, the current state.
    const now = this.latest;
    if (now) {
      client.write(encode(this.retryLine() + now.text), now.seq);
      this.options.metrics.sseFrames.inc();
      return;
    }
    client.write(encode(this.retryLine()));
    try {
      // Flush writes it to every client still without it, this one included.
      this.update(await this.options.snapshot());
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'no snapshot for a new SSE client');
    }
  }

  /**
   * Shutdown: refuse new streams and end the open ones so browsers reconnect to another
   * replica, in slices spread over `spreadMs` (each with its own jittered `retry:` hint), so
   * they do not all come back in the same instant. Clients not yet ended stay current. Resolves
   * once the last stream has ended.
   */
  close(options: { spreadMs?: number } = {}): Promise<void> {
    if (this.closing) return this.closedAll;
    this.closing = true;
    const clients = [...this.clients];
    const spreadMs = Math.max(0, options.spreadMs ?? 0);
    // Slice i (of at most one per 20 ms) starts at i × spreadMs / slices; a lone client ends at once.
    const slices = Math.max(1, Math.min(clients.length, Math.floor(spreadMs / 20)));
    const at = (i: number) => Math.ceil((i * clients.length) / slices);
    const endSlice = (i: number) => {
      for (const c of clients.slice(at(i), at(i + 1))) if (!c.closed) c.end(this.retryLine());
    };
    const stop = () => {
      clearInterval(this.heartbeat);
      clearInterval(this.sweeper);
      if (this.timer) clearTimeout(this.timer);
    };
    endSlice(0);
    if (slices === 1) {
      stop();
      return (this.closedAll = Promise.resolve());
    }
    this.closedAll = new Promise<void>((resolve) => {
      let i = 1;
      const next = () => {
        endSlice(i++);
        if (i < slices) return void setTimeout(next, (i * spreadMs) / slices - (Date.now() - started));
        stop();
        resolve();
      };
      const started = Date.now();
      setTimeout(next, spreadMs / slices);
    });
    return this.closedAll;
  }

  private add(c: SseClient): void {
    this.clients.add(c);
    this.perIp.set(c.ip, (this.perIp.get(c.ip) ?? 0) + 1);
    this.options.metrics.sseClients.set(this.clients.size);
  }

  private remove(c: SseClient): void {
    if (c.closed) return;
    c.closed = true;
    this.clients.delete(c);
    this.blocked.delete(c);
    const n = (this.perIp.get(c.ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(c.ip);
    else this.perIp.set(c.ip, n);
    this.options.metrics.sseClients.set(this.clients.size);
  }

  /** Writes, or holds the client back when bytes are still queued; past the cap it is dropped. */
  private send(c: SseClient, frame: Encoded, seq?: number): boolean {
    if (c.write(frame, seq)) return true;
    if (c.refusedBytes > this.options.maxQueuedBytes) this.drop(c, 'queue_full');
    else this.blocked.add(c);
    return false;
  }

  private drop(c: SseClient, reason: 'queue_full' | 'drain_timeout'): void {
    this.options.metrics.sseDropped.inc();
    this.options.logger.info({ reason, queuedBytes: c.queuedBytes, blockedMs: c.blockedSince ? Date.now() - c.blockedSince : 0 }, 'dropping an SSE client that stopped reading');
    this.remove(c);
    c.res.destroy();
  }

  private flush(): void {
    this.timer = null;
    this.lastFlush = Date.now();
    const f = this.latest;
    if (!f) return;
    let written = 0;
    for (const c of this.clients) {
      if (c.sentSeq >= f.seq || c.blockedSince) continue;
      if (this.send(c, f, f.seq)) written++;
    }
    if (written) this.options.metrics.sseFrames.inc(written);
    if (this.pendingOldestTs !== undefined) {
      this.options.metrics.voteToFrame.observe(Math.max(0, Date.now() - this.pendingOldestTs) / 1000);
      this.pendingOldestTs = undefined;
    }
  }

  private drained(c: SseClient): void {
    c.blockedSince = 0;
    this.blocked.delete(c);
    if (this.latest && c.sentSeq < this.latest.seq && !c.closed && this.send(c, this.latest, this.latest.seq)) {
      this.options.metrics.sseFrames.inc();
    }
  }

  private beat(): void {
    for (const c of this.clients) if (!c.blockedSince) this.send(c, HEARTBEAT);
  }

  /** Drops clients that have not drained for drainTimeoutMs; they cost memory and help no one. */
  private sweep(): void {
    const now = Date.now();
    for (const c of this.blocked) {
      if (c.refusedBytes > this.options.maxQueuedBytes) this.drop(c, 'queue_full');
      else if (now - c.blockedSince >= this.options.drainTimeoutMs) this.drop(c, 'drain_timeout');
    }
  }
}
