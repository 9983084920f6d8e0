/**
 * What the server, the consumer and the client must agree on. Browser-safe:
 * nothing here may import a Node.js module (Node-only pieces live in ./node).
 */
import { z } from 'zod';

export const VOTE_OPTIONS = ['cats', 'dogs'] as const;
export type VoteOption = (typeof VOTE_OPTIONS)[number];

/** Body of `POST /api/vote`. Unknown fields are rejected, not ignored. */
export const VoteRequest = z.strictObject({ option: z.enum(VOTE_OPTIONS) });
export type VoteRequest = z.infer<typeof VoteRequest>;

/**
 * `Idempotency-Key` values we accept (IETF httpapi-idempotency-key-header: an sf-string,
 * so an optional pair of double quotes around it). The key becomes the vote ID, so it is
 * restricted to characters that are safe in logs, Redis keys and SQL text.
 */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_.:-]{8,128}$/;

/** Fields of one entry in the votes stream; `ts` is the API's receive time in epoch ms. */
export const VoteEntry = z.strictObject({
  vid: z.string().regex(IDEMPOTENCY_KEY_PATTERN),
  option: z.enum(VOTE_OPTIONS),
  ts: z.string().regex(/^\d{1,16}$/),
});
export type VoteEntry = z.infer<typeof VoteEntry>;

const count = z.number().int().nonnegative();

/** Published on the tally channel after each committed batch that changed the totals. */
export const TallyMessage = z.strictObject({
  cats: count,
  dogs: count,
  total: count,
  seq: count,
  /** When the batch committed (epoch ms). */
  at: count,
  /** Receive time (epoch ms) of the oldest vote in the batch, for vote-to-frame latency. */
  oldestTs: count.optional(),
});
export type TallyMessage = z.infer<typeof TallyMessage>;

/** `GET /api/results` and the data of every SSE `tally` event. */
export const Results = z.strictObject({
  cats: count,
  dogs: count,
  total: count,
  seq: count,
  updatedAt: z.string(),
});
export type Results = z.infer<typeof Results>;

/** `GET /api/vote/:id`: whether a vote the API accepted has been counted yet, and in which tally. */
export const VoteStatus = z.strictObject({
  id: z.string(),
  counted: z.boolean(),
  /** The tally `seq` that first included this vote; present once counted. */
  seq: count.optional(),
});
export type VoteStatus = z.infer<typeof VoteStatus>;

export const SSE_EVENT_TALLY = 'tally';

export const ROUTES = {
  vote: '/api/vote',
  voteStatus: '/api/vote/:id',
  results: '/api/results',
  stream: '/api/stream',
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
} as const;

/**
 * Redis names, all under one prefix so a deployment can share a Redis (and an ACL can
 * name them by pattern). Pub/sub channels ignore the DB index, so tests rely on the prefix.
 */
export function redisKeys(prefix: string) {
  return {
    votes: `${prefix}votes`,
    deadLetter: `${prefix}votes:dead`,
    tallyChannel: `${prefix}tally`,
    idempotency: (key: string) => `${prefix}idem:${key}`,
    rateLimit: `${prefix}rl:`,
  } as const;
}
export type RedisKeys = ReturnType<typeof redisKeys>;

export const CONSUMER_GROUP = 'tally-writers';
export const DEFAULT_REDIS_PREFIX = 'lv:';
