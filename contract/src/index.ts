/**
 * What the server, the consumer and the client must agree on. Browser-safe:
 * nothing here may import a Node.js module (Node-only pieces live in ./node).
 */
import { z } from 'zod';
import { IDEMPOTENCY_KEY_PATTERN, RESULTS_STATES, VOTE_OPTIONS, VOTING_STATES } from './constants.ts';

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
  /**
   * The round that was open when the API accepted the vote (read in the same script as the XADD);
   * the vote counts there, however late it is applied. Absent from an older server's entries:
   * those count to the round that is current when they are applied.
   */
  round: z.string().regex(/^[1-9]\d{0,9}$/).optional(),
});
export type VoteEntry = z.infer<typeof VoteEntry>;

const count = z.number().int().nonnegative();

const roundNumber = z.number().int().positive();
const roundState = {
  /** The current round, from 1. */
  round: roundNumber,
  voting: z.enum(VOTING_STATES),
  results: z.enum(RESULTS_STATES),
};

/**
 * `GET /api/results` and the data of every SSE `tally` event: the current round. While its
 * results are `hidden`, `cats`, `dogs` and `total` are `null`: the server never sends them.
 * `seq` grows with every change anyone can see (a counted batch or a host action), never back;
 * while results are hidden only host actions move it (and `updatedAt`), so no one can count votes.
 */
export const Results = z.strictObject({
  ...roundState,
  cats: count.nullable(),
  dogs: count.nullable(),
  total: count.nullable(),
  seq: count,
  updatedAt: z.string(),
});
export type Results = z.infer<typeof Results>;

/** The current round with its numbers, whatever its visibility: what a host (and the tally channel) sees. */
export const RoundTally = z.strictObject({
  ...roundState,
  cats: count,
  dogs: count,
  total: count,
  seq: count,
  updatedAt: z.string(),
  /**
   * The seq and time of the round's last host change: what the public sees instead of `seq` and
   * `updatedAt` while results are hidden, so nothing public moves with votes. Absent from an
   * older consumer's messages.
   */
  changedSeq: count.optional(),
  changedAt: z.string().optional(),
});
export type RoundTally = z.infer<typeof RoundTally>;

/**
 * Published on the tally channel after each committed batch that changed the totals: the
 * totals in the shape the server serves them (`Results`; `updatedAt` is when the batch
 * committed, ISO-8601), so a server forwards them as they are. Unknown fields are ignored, so
 * a newer consumer can add one during a rolling upgrade.
 */
export const TallyMessage = z.object({
  ...RoundTally.shape,
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
  /**
   * The tally `seq` that first included this vote; present once counted, except while its
   * round's results are hidden, for good when the round ended hidden (it steps with every batch:
   * a voter comparing the seqs of their own votes would count everyone's).
   */
  seq: count.optional(),
  /** The round this vote counts in; present once counted. */
  round: roundNumber.optional(),
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

/** `GET /api/watchers`: open result streams, summed over every server process that reported lately. */
export const Watchers = z.strictObject({ watchers: count });
export type Watchers = z.infer<typeof Watchers>;

/** `PATCH /api/host/round`: either or both; unknown fields are rejected. */
export const RoundPatch = z
  .strictObject({ voting: z.enum(VOTING_STATES).optional(), results: z.enum(RESULTS_STATES).optional() })
  .refine((p) => p.voting !== undefined || p.results !== undefined, { message: 'send "voting" ("open" or "closed"), "results" ("shown" or "hidden"), or both' });
export type RoundPatch = z.infer<typeof RoundPatch>;

/**
 * `POST /api/host/rounds` body (optional): how the new round starts, open and shown unless told
 * otherwise, so a round meant for a reveal never shows a number, not even for a moment.
 */
export const RoundStart = z.strictObject({ voting: z.enum(VOTING_STATES).optional(), results: z.enum(RESULTS_STATES).optional() });
export type RoundStart = z.infer<typeof RoundStart>;

/**
 * `504` to a host change: sent, and its outcome not learned in time (or recorded and not yet in
 * Redis). `key` is the Idempotency-Key to retry with: the one sent, or the one the server chose.
 */
export const HostChangeUnknown = z.strictObject({ error: z.string(), key: z.string().regex(IDEMPOTENCY_KEY_PATTERN) });
export type HostChangeUnknown = z.infer<typeof HostChangeUnknown>;

/** `201` to `POST /api/host/rounds`: the new round, at 0 votes, in the state asked for (open, results shown by default). */
export const RoundCreated = z.strictObject({ round: roundNumber });
export type RoundCreated = z.infer<typeof RoundCreated>;

/** One round in `GET /api/host/rounds`. `closedAt` is when voting last closed; `null` while open. */
export const RoundSummary = z.strictObject({
  round: roundNumber,
  cats: count,
  dogs: count,
  total: count,
  openedAt: z.string(),
  closedAt: z.string().nullable(),
});
export type RoundSummary = z.infer<typeof RoundSummary>;

/** `GET /api/host/rounds`: every round, oldest first. */
export const RoundList = z.strictObject({ rounds: z.array(RoundSummary) });
export type RoundList = z.infer<typeof RoundList>;

/** `GET /api/host/round` and the answer to `PATCH`: the current round with its numbers, even while hidden. */
export const HostRound = z.strictObject({ ...RoundTally.shape, openedAt: z.string(), closedAt: z.string().nullable() });
export type HostRound = z.infer<typeof HostRound>;

/** `GET /healthz`: the process is alive. */
export const Health = z.strictObject({ status: z.literal('ok') });
export type Health = z.infer<typeof Health>;

/** `GET /readyz`: whether the process can take votes (200 `true`, 503 `false`). */
export const Readiness = z.strictObject({ ready: z.boolean() });
export type Readiness = z.infer<typeof Readiness>;
