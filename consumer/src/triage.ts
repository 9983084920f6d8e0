import type { Logger } from 'pino';
import type { ConsumerMetrics } from './metrics.ts';
import type { VoteToApply } from './tally-store.ts';
import { parseVote, type StreamEntry, type VoteStream } from './vote-stream.ts';

/** An entry that passed triage: a well-formed vote not yet delivered too often. */
export interface TriagedVote {
  entry: StreamEntry;
  vote: VoteToApply;
  /** The API's receive time (epoch ms). */
  ts: number;
}

export interface TriageOptions {
  stream: Pick<VoteStream, 'deadLetter'>;
  metrics: ConsumerMetrics;
  logger: Logger;
  /** An entry delivered more often than this is given up on and dead-lettered. */
  maxDeliveries: number;
}

/**
 * Sorts a batch before it reaches PostgreSQL. A malformed entry, or one delivered more than
 * `maxDeliveries` times (a poison entry the database keeps rejecting), is copied to the
 * dead-letter stream and acknowledged there; the votes worth applying are returned.
 * `deliveries` holds the known delivery counts; an entry missing from it is on its first.
 */
export async function triage(
  entries: readonly StreamEntry[],
  deliveries: ReadonlyMap<string, number>,
  { stream, metrics, logger, maxDeliveries }: TriageOptions,
): Promise<TriagedVote[]> {
  const good: TriagedVote[] = [];
  for (const entry of entries) {
    const n = deliveries.get(entry.id) ?? 1;
    const vote = parseVote(entry);
    if (!vote) {
      await stream.deadLetter(entry, 'invalid', n);
      metrics.deadLettered.inc({ reason: 'invalid' });
      logger.warn({ id: entry.id }, 'invalid entry dead-lettered');
    } else if (n > maxDeliveries) {
      await stream.deadLetter(entry, 'max-deliveries', n);
      metrics.deadLettered.inc({ reason: 'max-deliveries' });
      logger.warn({ id: entry.id, deliveries: n }, 'entry dead-lettered after too many deliveries');
    } else {
      good.push({ entry, vote: { vid: vote.vid, option: vote.option }, ts: Number(vote.ts) });
    }
  }
  return good;
}
