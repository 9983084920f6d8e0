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
