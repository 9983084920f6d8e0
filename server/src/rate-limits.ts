import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { Redis } from 'ioredis';
import type { ServerMetrics } from './metrics.ts';

export interface RateLimitOptions {
  enabled: boolean;
  redis: Redis;
  prefix: string;
  votesPerMinute: number;
  streamsPerMinute: number;
  metrics: ServerMetrics;
}

const pass: RequestHandler = (_req, _res, next) => next();

/**
 * Per-address limits kept in Redis so every replica counts together. If Redis is down the
 * limiter lets requests through: the vote itself then answers 503, which is the truth.
 */
export function createRateLimits(o: RateLimitOptions): { votes: RequestHandler; streams: RequestHandler } {
  if (!o.enabled) return { votes: pass, streams: pass };
  const make = (name: string, limit: number): RequestHandler =>
    rateLimit({
      windowMs: 60_000,
      limit,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      passOnStoreError: true,
      identifier: name,
      store: new RedisStore({
        prefix: `${o.prefix}${name}:`,
        sendCommand: (command: string, ...args: string[]) => o.redis.call(command, ...args) as Promise<RedisReply>,
      }),
      // Plain node:http calls, so the same limiter serves the stream route, which bypasses Express.
      handler: (_req, res, _next, options) => {
        if (name === 'votes') o.metrics.votesRejected.inc({ reason: 'rate_limited' });
        else o.metrics.sseRejected.inc({ reason: 'rate_limited' });
        res.statusCode = options.statusCode;
        res.setHeader('content-type', 'application/json; charset=utf-8');
        res.end(JSON.stringify({ error: 'too many requests from this address; retry after the Retry-After delay' }));
      },
    });
  return { votes: make('votes', o.votesPerMinute), streams: make('streams', o.streamsPerMinute) };
}
