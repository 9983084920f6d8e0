import type { IncomingMessage, ServerResponse } from 'node:http';
import { SSE_EVENT_TALLY, type Results } from '@livevote/contract';
import type { Logger } from 'pino';
import { SseClient } from './sse-client.ts';
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
  metrics: ServerMetrics;
  logger: Logger;
  /** Current totals for a client that connects before any tally arrived. */
  snapshot: () => Promise<Results>;
}

export interface TallyUpdate extends Results {
  /** Receive time of the oldest vote in the tally's batch (epoch ms), when known. */
  oldestTs?: number | undefined;
}

interface Frame {
  seq: number;
  text: string;
}

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
  private latest: Frame | null = null;
  private pendingOldestTs: number | undefined;
  private lastFlush = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly sweeper: NodeJS.Timeout;
  private closing = false;

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

  /** Clients whose last write is still waiting for `drain`. */
  get blockedCount(): number {
    return this.blocked.size;
  }

  get latestSeq(): number {
    return this.latest?.seq ?? -1;
  }

  /** Accepts a tally; older or equal seqs are ignored, so frames never go backwards. */
  update(t: TallyUpdate): void {
    if (this.latest && t.seq <= this.latest.seq) return;
    const data: Results = { cats: t.cats, dogs: t.dogs, total: t.total, seq: t.seq, updatedAt: t.updatedAt };
    this.latest = { seq: t.seq, text: `id: ${t.seq}\nevent: ${SSE_EVENT_TALLY}\ndata: ${JSON.stringify(data)}\n\n` };
    if (t.oldestTs !== undefined) this.pendingOldestTs = Math.min(this.pendingOldestTs ?? t.oldestTs, t.oldestTs);
    if (this.timer) return;
    const tick = Math.max(this.options.tickMs, (this.clients.size / this.options.maxFramesPerSec) * 1000);
    const wait = this.lastFlush + tick - Date.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Answers `GET /api/stream`. Refusals carry Retry-After; Last-Event-ID just gets the current state. */
  async connect(req: IncomingMessage, res: ServerResponse, ip: string): Promise<void> {
    const refuse = (status: number, reason: string, message: string, retryAfterSeconds: number) => {
      this.options.metrics.sseRejected.inc({ reason });
      sendError(res, status, message, { retryAfterSeconds });
    };
    if (this.closing) return refuse(503, 'shutting_down', 'shutting down', 1);
    if (this.clients.size >= this.options.maxClients) return refuse(503, 'server_full', 'too many connections on this server', 5);
    if ((this.perIp.get(ip) ?? 0) >= this.options.maxPerIp) return refuse(429, 'address_full', 'too many connections from this address', 10);

    const client = new SseClient(res, ip);
    this.add(client);
    req.on('close', () => this.remove(client));
    res.on('error', () => this.remove(client));
    res.on('drain', () => this.drained(client));

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.socket?.setNoDelay(true);
    client.write(`retry: ${this.options.retryMs}\n\n`);
    if (!this.latest) {
      try {
        this.update(await this.options.snapshot());
      } catch (err) {
        this.options.logger.warn({ err: (err as Error).message }, 'no snapshot for a new SSE client');
      }
    }
    // Flush may already have written it (update above); otherwise the snapshot goes out now.
    if (this.latest && client.sentSeq < this.latest.seq && !client.closed && !client.blockedSince) {
      this.writeFrame(client, this.latest);
      this.options.metrics.sseFrames.inc();
    }
  }

  /** Shutdown: refuse new streams and end open ones so browsers reconnect to another replica. */
  close(): void {
    this.closing = true;
    clearInterval(this.heartbeat);
    clearInterval(this.sweeper);
    if (this.timer) clearTimeout(this.timer);
    for (const c of this.clients) c.res.end();
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

  private writeFrame(c: SseClient, f: Frame): void {
    if (!c.write(f.text, f.seq)) this.blocked.add(c);
  }

  private flush(): void {
    this.timer = null;
    this.lastFlush = Date.now();
    const f = this.latest;
    if (!f) return;
    let written = 0;
    for (const c of this.clients) {
      if (c.sentSeq >= f.seq || c.blockedSince) continue;
      this.writeFrame(c, f);
      written++;
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
    if (this.latest && c.sentSeq < this.latest.seq && !c.closed) {
      this.writeFrame(c, this.latest);
      this.options.metrics.sseFrames.inc();
    }
  }

  private beat(): void {
    for (const c of this.clients) if (!c.blockedSince && !c.write(':\n\n')) this.blocked.add(c);
  }

  /** Drops clients that have not drained for drainTimeoutMs; they cost memory and help no one. */
  private sweep(): void {
    const now = Date.now();
    for (const c of this.blocked) {
      if (now - c.blockedSince < this.options.drainTimeoutMs) continue;
      this.options.metrics.sseDropped.inc();
      this.options.logger.info({ blockedMs: now - c.blockedSince }, 'dropping an SSE client that stopped reading');
      this.remove(c);
      c.res.destroy();
    }
  }
}
