import type { RedisClient } from '@livevote/service-kit';
import type { StreamEntry, VoteStream } from './vote-stream.ts';

export interface PendingRecoveryOptions {
  stream: Pick<VoteStream, 'read' | 'deliveryCounts'>;
  /** The connection the read loop blocks on; re-reading own pending entries never blocks. */
  blockingRedis: RedisClient;
  batchSize: number;
  handle: (entries: StreamEntry[], signal: AbortSignal, deliveries: ReadonlyMap<string, number>) => Promise<void>;
}

/**
 * On start: entries delivered to this consumer name before a crash (or a lost connection) are
 * applied first, with their delivery counts, batch by batch until none is left.
 */
export async function finishOwnPending(
  { stream, blockingRedis, batchSize, handle }: PendingRecoveryOptions,
  signal: AbortSignal,
): Promise<void> {
  for (;;) {
    if (signal.aborted) return;
    const entries = await stream.read(blockingRedis, batchSize, 0, '0');
    if (entries.length === 0) return;
    const counts = await stream.deliveryCounts(entries[0]!.id, entries.at(-1)!.id, entries.length);
    const before = entries.length;
    await handle(entries, signal, counts);
    if (before < batchSize) return;
  }
}
