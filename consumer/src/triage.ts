import type { Logger } from 'pino';
import type { ConsumerMetrics } from './metrics.ts';
import type { VoteToApply } from './tally-store.ts';
import { parseVote, type StreamEntry, type VoteStream } from './vote-stream.ts';

/** An entry that passed triage: a well-formed vote. */
export interface TriagedVote {
  entry: StreamEntry;
  vote: VoteToApply;
  /** The API's receive time (epoch ms). */
  ts: number;
  /** How often the group has delivered this entry, this delivery included. */
  deliveries: number;
}

export interface TriageOptions {
  stream: Pick<VoteStream, 'deadLetter'>;
  metrics: ConsumerMetrics;
  logger: Logger;
}

/**
 * Sorts a batch before it reaches PostgreSQL. A malformed entry is copied to the dead-letter
 * stream and acknowledged there; the well-formed votes are returned, whatever their delivery
 * count. A count says nothing about the vote (restarts, claims and a database away for an hour
 * all raise it), so an entry delivered too often is dead-lettered only when PostgreSQL has just
 * rejected it for its data (batch-handler.ts), never here.
 * `deliveries` holds the known delivery counts; an entry missing from it is on its first.
 */
export async function triage(
  entries: readonly StreamEntry[],
  deliveries: ReadonlyMap<string, number>,
  { stream, metrics, logger }: TriageOptions,
): Promise<TriagedVote[]> {
  const good: TriagedVote[] = [];
  for (const entry of entries) {
    const n = deliveries.get(entry.id) ?? 1;
    const vote = parseVote(entry);
    if (!vote) {
      await stream.deadLetter(entry, 'invalid', n);
      metrics.deadLettered.inc({ reason: 'invalid' });
      logger.warn({ id: entry.id }, 'invalid entry dead-lettered');
    } else {
      good.push({ entry, vote: { vid: vote.vid, option: vote.option, round: vote.round === undefined ? null : Number(vote.round) }, ts: Number(vote.ts), deliveries: n });
    }
  }
  return good;
}
