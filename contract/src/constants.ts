/**
 * The contract's plain values, with no runtime dependency: the browser imports these
 * (`@livevote/contract/constants`) without pulling the schema library into its bundle.
 */
export const VOTE_OPTIONS = ['cats', 'dogs'] as const;
export type VoteOption = (typeof VOTE_OPTIONS)[number];

/**
 * `Idempotency-Key` values we accept (IETF httpapi-idempotency-key-header: an sf-string,
 * so an optional pair of double quotes around it). The key becomes the vote ID, so it is
 * restricted to characters that are safe in logs, Redis keys and SQL text.
 */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_.:-]{8,128}$/;

export const SSE_EVENT_TALLY = 'tally';

export const ROUTES = {
  /** The prefix every API route shares; the server answers an unknown one with a JSON 404. */
  api: '/api',
  vote: '/api/vote',
  voteStatus: '/api/vote/:id',
  results: '/api/results',
  stream: '/api/stream',
  /** The OpenAPI 3.1 document of these routes, generated from the contract (`@livevote/contract/openapi`). */
  openapi: '/api/openapi.json',
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
