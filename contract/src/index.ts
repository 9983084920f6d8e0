/**
 * What the server, the consumer and the client must agree on. Browser-safe:
 * nothing here may import a Node.js module (Node-only pieces live in ./node).
 */
import { z } from 'zod';
import { IDEMPOTENCY_KEY_PATTERN, VOTE_OPTIONS } from './constants.ts';

export * from './constants.ts';

/** Body of `POST /api/vote`. Unknown fields are rejected, not ignored. */
export const VoteRequest = z.strictObject({ option: z.enum(VOTE_OPTIONS) });
export type VoteRequest = z.infer<typeof VoteRequest>;

/**
 * Fields of one entry in the votes stream; `ts` is the API's receive time in epoch ms. Fields it
 * does not know are ignored (not rejected), so a newer server can add one during a rolling upgrade
 * without older consumers dead-lettering its votes.
 */
export const VoteEntry = z.object({
  vid: z.string().regex(IDEMPOTENCY_KEY_PATTERN),
  option: z.enum(VOTE_OPTIONS),
  ts: z.string().regex(/^\d{1,16}$/),
});
export type VoteEntry = z.infer<typeof VoteEntry>;

const count = z.number().int().nonnegative();

/** `GET /api/results` and the data of every SSE `tally` event. */
export const Results = z.strictObject({
  cats: count,
  dogs: count,
  total: count,
  seq: count,
  updatedAt: z.string(),
});
export type Results = z.infer<typeof Results>;

/**
 * Published on the tally channel after each committed batch that changed the totals: the
 * totals in the shape the server serves them (`Results`; `updatedAt` is when the batch
 * committed, ISO-8601), so a server forwards them as they are. Unknown fields are ignored, so
 * a newer consumer can add one during a rolling upgrade.
 */
export const TallyMessage = z.object({
  ...Results.shape,
  /**
   * Receive time (epoch ms) of the oldest vote in the batch, for the server's vote-to-frame
   * latency metric. Not part of what the server serves: its SSE frames carry `Results` only.
   */
  oldestTs: count.optional(),
});
export type TallyMessage = z.infer<typeof TallyMessage>;

/** `GET /api/vote/:id`: whether a vote the API accepted has been counted yet, and in which tally. */
export const VoteStatus = z.strictObject({
  id: z.string(),
  counted: z.boolean(),
  /** The tally `seq` that first included this vote; present once counted. */
  seq: count.optional(),
});
export type VoteStatus = z.infer<typeof VoteStatus>;

/** `202` to `POST /api/vote`: the vote is in Redis; `id` is its vote ID (the Idempotency-Key when one was sent). */
export const VoteAccepted = z.strictObject({ id: z.string().regex(IDEMPOTENCY_KEY_PATTERN) });
export type VoteAccepted = z.infer<typeof VoteAccepted>;

/**
 * `GET /api/results` while PostgreSQL is away: the last tally this process knows, marked stale,
 * with its age in seconds (also sent as the `Age` header).
 */
export const StaleResults = z.strictObject({ ...Results.shape, stale: z.literal(true), ageSeconds: count });
export type StaleResults = z.infer<typeof StaleResults>;

/** Every JSON error answer: what went wrong, for a person to read. */
export const ErrorBody = z.strictObject({ error: z.string().min(1) });
export type ErrorBody = z.infer<typeof ErrorBody>;

/** `422` to a vote body that is not `{"option":"cats"|"dogs"}`: which field failed and why. */
export const InvalidVoteBody = z.strictObject({
  error: z.string().min(1),
  issues: z.array(z.strictObject({ path: z.string(), message: z.string() })),
});
export type InvalidVoteBody = z.infer<typeof InvalidVoteBody>;

/**
 * `504` to a vote that was sent to Redis whose answer did not come in time: it may or may not be
 * stored. Retry only with the same Idempotency-Key, or ask `GET /api/vote/:id` about `id`.
 */
export const OutcomeUnknown = z.strictObject({ error: z.literal('outcome unknown'), id: z.string().regex(IDEMPOTENCY_KEY_PATTERN) });
export type OutcomeUnknown = z.infer<typeof OutcomeUnknown>;

/** `GET /healthz`: the process is alive. */
export const Health = z.strictObject({ status: z.literal('ok') });
export type Health = z.infer<typeof Health>;

/** `GET /readyz`: whether the process can take votes (200 `true`, 503 `false`). */
export const Readiness = z.strictObject({ ready: z.boolean() });
export type Readiness = z.infer<typeof Readiness>;
