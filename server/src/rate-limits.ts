import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type Options } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { Redis } from 'ioredis';
import type { ServerMetrics } from './metrics.ts';
import { sendError } from './http-errors.ts';

export interface RateLimitOptions {
  enabled: boolean;
  redis: Redis;
  prefix: string;
  votesPerMinute: number;
  streamsPerMinute: number;
  metrics: ServerMetrics;
}

/** A new stream may open, or must wait this many seconds. */
export type StreamAdmission = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimits {
  /** Express middleware for `POST /api/vote`: answers 429 itself. */
  votes: RequestHandler;
  /** Counts one new stream for a client address. Rejects when Redis cannot count it. */
  streams: (clientAddress: string) => Promise<StreamAdmission>;
}

export const RATE_LIMITED_MESSAGE = 'too many requests from this address; retry after the Retry-After delay';
const WINDOW_MS = 60_000;

/**
 * Per-address limits kept in Redis so every replica counts together. If Redis is down the
 * limiter lets requests through: the vote itself then answers 503, which is the truth.
 */
export function createRateLimits(options: RateLimitOptions): RateLimits {
  if (!options.enabled) return { votes: (_req, _res, next) => next(), streams: async () => ({ allowed: true }) };
  const { metrics } = options;
  const store = (name: string) =>
    new RedisStore({
      prefix: `${options.prefix}${name}:`,
      sendCommand: (command: string, ...args: string[]) => options.redis.call(command, ...args) as Promise<RedisReply>,
    });

  const votes = rateLimit({
    windowMs: WINDOW_MS,
    limit: options.votesPerMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    passOnStoreError: true,
    identifier: 'votes',
    store: store('votes'),
    // express-rate-limit has set Retry-After and the RateLimit headers by now.
    handler: (_req, res, _next, used) => {
      metrics.votesRejected.inc({ reason: 'rate_limited' });
      sendError(res, used.statusCode, RATE_LIMITED_MESSAGE);
    },
  });

  // The stream route runs on plain node:http, ahead of Express, and express-rate-limit's
  // middleware needs Express's request and response (req.app, req.ip, res.append). So it counts
  // in the same Redis store directly: the same keys (prefix + ipKeyGenerator(address), as the
  // middleware would make), the same window and Retry-After. Only the draft-8 RateLimit headers,
  // which an EventSource cannot read, are not sent on this route.
  const streamStore = store('streams');
  // init loads the store's Lua scripts (of the options it reads only windowMs); after a failed
  // load it is tried again on the next stream.
  const init = () => streamStore.init({ windowMs: WINDOW_MS } as Options);
  let loaded = init();
  loaded.catch(() => {});
  const streams = async (clientAddress: string): Promise<StreamAdmission> => {
    await loaded.catch(() => (loaded = init()));
    const { totalHits, resetTime } = await streamStore.increment(ipKeyGenerator(clientAddress));
    if (totalHits <= options.streamsPerMinute) return { allowed: true };
    metrics.sseRejected.inc({ reason: 'rate_limited' });
    const retryAfterSeconds = resetTime ? Math.max(0, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : WINDOW_MS / 1000;
    return { allowed: false, retryAfterSeconds };
  };
  return { votes, streams };
}
