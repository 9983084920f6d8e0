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

/** A round's voting: `closed` refuses new votes (409); votes already accepted still count to it. */
export const VOTING_STATES = ['open', 'closed'] as const;
export type VotingState = (typeof VOTING_STATES)[number];
/** A round's results: `hidden` sends `null` for every number on the public routes until the reveal. */
export const RESULTS_STATES = ['shown', 'hidden'] as const;
export type ResultsState = (typeof RESULTS_STATES)[number];

/** The host session cookie (HttpOnly, SameSite=Strict, Path=/api/host) that `POST /api/host/session` sets over http. */
export const HOST_SESSION_COOKIE = 'lv_host';
/**
 * Its name over https: the `__Host-` prefix makes browsers take it only with `Secure`, `Path=/`
 * and no `Domain`, so no other host (a sibling subdomain) can set or overwrite it.
 */
export const HOST_SESSION_COOKIE_SECURE = '__Host-lv_host';
/** `HOST_TOKEN`'s minimum length. */
export const HOST_TOKEN_MIN_LENGTH = 16;

export const ROUTES = {
  /** The prefix every API route shares; the server answers an unknown one with a JSON 404. */
  api: '/api',
  vote: '/api/vote',
  voteStatus: '/api/vote/:id',
  results: '/api/results',
  stream: '/api/stream',
  /** How many screens hold a stream open, summed over every server process. */
  watchers: '/api/watchers',
  /** Host routes: `Authorization: Bearer <HOST_TOKEN>` or the host session cookie. */
  hostSession: '/api/host/session',
  /** DELETE: sign out everywhere (every host session ends). */
  hostSessions: '/api/host/sessions',
  hostRounds: '/api/host/rounds',
  hostRound: '/api/host/round',
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
    /**
     * Hash: stream entry ID → attempts at it that never finished (the consumer died or threw on
     * the way). Fields live while their entry is in a batch; one left behind marks a suspect.
     */
    unfinished: `${prefix}votes:unfinished`,
    tallyChannel: `${prefix}tally`,
    idempotency: (key: string) => `${prefix}idem:${key}`,
    /**
     * The current round as the vote script needs it (hash: round, voting, results, seq). PostgreSQL
     * holds the record; servers write this copy on every host action and restore it when missing.
     */
    round: `${prefix}round`,
    /** Hash: server instance → its open streams and until when that figure holds (`count:expiresAtMs`). */
    watchers: `${prefix}watchers`,
    rateLimit: `${prefix}rl:`,
  } as const;
}
export type RedisKeys = ReturnType<typeof redisKeys>;

export const CONSUMER_GROUP = 'tally-writers';

/**
 * The PostgreSQL advisory lock a host change holds until its COMMIT (`pg_advisory_xact_lock`).
 * Taken shared, it waits for a change still committing: by a restore reading the record (never
 * older than a change a host may have been told), by a server learning whether its COMMIT went
 * through, and by a consumer batch naming a round PostgreSQL does not show yet.
 */
export const ROUND_CHANGE_LOCK = 7_405_001;
export const DEFAULT_REDIS_PREFIX = 'lv:';
/** The server's ops port (OPS_PORT: /metrics) unless told otherwise; `npm start` uses it too. */
export const DEFAULT_OPS_PORT = 9464;
