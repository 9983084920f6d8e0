import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type ClientRateLimitInfo, type IncrementResponse, type Options, type Store } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { RedisClient } from '@livevote/service-kit';
import type { Logger } from 'pino';
import type { ServerMetrics } from './metrics.ts';
import { sendError } from './http-errors.ts';

export interface RateLimitOptions {
  enabled: boolean;
  redis: RedisClient;
  prefix: string;
  votesPerMinute: number;
  streamsPerMinute: number;
  /** Host requests without a valid token or session per client address per minute. */
  hostFailuresPerMinute: number;
  metrics: ServerMetrics;
  /** Store errors are logged here, once per outage. */
  logger?: Logger;
}

/** A new stream may open, or must wait this many seconds. */
/** `unavailable`: Redis could not count it, and this limit fails closed (503, not 429). */
export type StreamAdmission = { allowed: true } | { allowed: false; retryAfterSeconds: number; unavailable?: true };

export interface RateLimits {
  /** Express middleware for `POST /api/vote`: answers 429 itself. */
  votes: RequestHandler;
  /** Counts one new stream for a client address; lets it through when Redis cannot count it. */
  streams: (clientAddress: string) => Promise<StreamAdmission>;
  /**
   * Counts one host request that carried no valid credential; past the limit the address gets
   * 429 instead of 401, so a token cannot be guessed at speed. Valid requests are never counted.
   * Always on (`RATE_LIMIT=off` lifts the voters' limits only), and closed when Redis cannot
   * count: an uncounted guess is refused (503), never let through.
   */
  hostFailures: (clientAddress: string) => Promise<StreamAdmission>;
}

export const RATE_LIMITED_MESSAGE = 'too many requests from this address; retry after the Retry-After delay';
const WINDOW_MS = 60_000;

type Limiter = 'votes' | 'streams' | 'host';

/**
 * rate-limit-redis loads its Lua scripts once, in init(); when that SCRIPT LOAD fails (Redis
 * away or slow at start, an ACL without script|load) it keeps the rejected promise and every
 * later call fails, so with passOnStoreError the limit is off for the life of the process.
 * This store runs init again on the next call after a failed one, and counts every failed call
 * (livevote_rate_limit_store_errors_total) and logs the first of an outage and its end.
 */
export class RecoveringStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;
  private readonly inner: RedisStore;
  private readonly limiter: Limiter;
  private readonly metrics: ServerMetrics;
  private readonly logger: Logger | undefined;
  private options: Options | undefined;
  private loading: Promise<void> | null = null;
  private failing = false;

  constructor(inner: RedisStore, limiter: Limiter, metrics: ServerMetrics, logger?: Logger) {
    this.inner = inner;
    this.prefix = inner.prefix;
    this.limiter = limiter;
    this.metrics = metrics;
    this.logger = logger;
  }

  /** Never rejects: a failed load is reported, and tried again on the next call. */
  init(options: Options): void {
    this.options = options;
    this.load().catch((err: unknown) => this.failed(err));
  }

  private load(): Promise<void> {
    if (!this.loading) {
      const loading: Promise<void> = this.inner.init(this.options ?? ({ windowMs: WINDOW_MS } as Options)).catch((err: unknown) => {
        if (this.loading === loading) this.loading = null;
        throw err;
      });
      this.loading = loading;
    }
    return this.loading;
  }

  private failed(err: unknown): void {
    this.metrics.rateLimitStoreErrors.inc({ limiter: this.limiter });
    if (this.failing) return;
    this.failing = true;
    const meanwhile = this.limiter === 'host' ? 'host requests without a valid credential are refused (503)' : 'requests pass unlimited';
    this.logger?.warn({ err: (err as Error).message, limiter: this.limiter }, `rate limit store failing; ${meanwhile} until Redis answers`);
  }

  private succeeded(): void {
    if (!this.failing) return;
    this.failing = false;
    this.logger?.info({ limiter: this.limiter }, 'rate limit store recovered; limits enforced again');
  }

  private async run<T>(call: () => Promise<T>): Promise<T> {
    try {
      await this.load();
      const result = await call();
      this.succeeded();
      return result;
    } catch (err) {
      this.failed(err);
      throw err;
    }
  }

  increment(key: string): Promise<IncrementResponse> {
    return this.run(() => this.inner.increment(key));
  }

  get(key: string): Promise<ClientRateLimitInfo | undefined> {
    return this.run(() => this.inner.get(key));
  }

  decrement(key: string): Promise<void> {
    return this.run(() => this.inner.decrement(key));
  }

  resetKey(key: string): Promise<void> {
    return this.run(() => this.inner.resetKey(key));
  }
}

/**
 * Per-address limits kept in Redis so every replica counts together. If Redis is down the
 * voters' limiters let requests through (the vote itself then answers 503, which is the truth);
 * the host-failure limiter refuses them.
 */
export function createRateLimits(options: RateLimitOptions): RateLimits {
  const allow = async (): Promise<StreamAdmission> => ({ allowed: true });
  const { metrics } = options;
  const store = (name: Limiter) =>
    new RecoveringStore(
      new RedisStore({
        prefix: `${options.prefix}${name}:`,
        sendCommand: (command: string, ...args: string[]) => options.redis.call(command, ...args) as Promise<RedisReply>,
      }),
      name,
      metrics,
      options.logger,
    );

  // RecoveringStore has logged (once per outage) and counted a store error already; everything
  // else express-rate-limit reports goes to the service log.
  const erlLogger = {
    warn: (...args: unknown[]) => options.logger?.warn({ detail: String(args[0]) }, String(args[1] ?? 'express-rate-limit warning')),
    error: (...args: unknown[]) => {
      if (typeof args[1] === 'string' && args[1].includes('error from store')) return;
      options.logger?.error({ err: String(args[0]) }, String(args[1] ?? 'express-rate-limit error'));
    },
  };

  // The stream route runs on plain node:http, ahead of Express, and express-rate-limit's
  // middleware needs Express's request and response (req.app, req.ip, res.append). So it counts
  // in the same Redis store directly: the same keys (prefix + ipKeyGenerator(address), as the
  // middleware would make), the same window and Retry-After. Only the draft-8 RateLimit headers,
  // which an EventSource cannot read, are not sent on this route.
  const counter = (name: Limiter, limit: number, onRejected: () => void, failClosed = false) => {
    const counted = store(name);
    counted.init({ windowMs: WINDOW_MS } as Options);
    return async (clientAddress: string): Promise<StreamAdmission> => {
      let hits: IncrementResponse;
      try {
        hits = await counted.increment(ipKeyGenerator(clientAddress));
      } catch {
        // Counted and logged by the store.
        return failClosed ? { allowed: false, retryAfterSeconds: 1, unavailable: true } : { allowed: true };
      }
      const { totalHits, resetTime } = hits;
      if (totalHits <= limit) return { allowed: true };
      onRejected();
      const retryAfterSeconds = resetTime ? Math.max(0, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : WINDOW_MS / 1000;
      return { allowed: false, retryAfterSeconds };
    };
  };
  const hostFailures = counter('host', options.hostFailuresPerMinute, () => metrics.hostAuthFailures.inc({ reason: 'rate_limited' }), true);
  if (!options.enabled) return { votes: (_req, _res, next) => next(), streams: allow, hostFailures };

  const votes = rateLimit({
    windowMs: WINDOW_MS,
    limit: options.votesPerMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    passOnStoreError: true,
    identifier: 'votes',
    store: store('votes'),
    logger: erlLogger,
    // express-rate-limit has set Retry-After and the RateLimit headers by now.
    handler: (_req, res, _next, used) => {
      metrics.votesRejected.inc({ reason: 'rate_limited' });
      sendError(res, used.statusCode, RATE_LIMITED_MESSAGE);
    },
  });

  const streams = counter('streams', options.streamsPerMinute, () => metrics.sseRejected.inc({ reason: 'rate_limited' }));
  return { votes, streams, hostFailures };
}
