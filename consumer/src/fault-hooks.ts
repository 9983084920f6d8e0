import { isDataError } from './pg-errors.ts';
import type { BatchOutcome, TallyStore, VoteToApply } from './tally-store.ts';

/**
 * Test-only faults, for the fault drills (system-tests/faults). main.ts wraps the store with
 * these only when a FAULT_* variable is set; the production path never sees them.
 */
export interface FaultHooks {
  /** Batches holding a vote ID with this prefix fail as a data error (SQLSTATE 22000) would. */
  rejectVidPrefix?: string | undefined;
  /**
   * A batch holding a vote ID with this prefix ends the process before PostgreSQL sees it: an
   * exception thrown from the event loop, outside every try, as a bug in the consumer would.
   */
  crashVidPrefix?: string | undefined;
  /** Called after each COMMIT, before the batch is acknowledged (the drill ends the process here). */
  afterCommit?: (() => void) | undefined;
  /**
   * A deliberately broken build, for the nemesis's checker to catch: a batch whose transaction
   * failed (PostgreSQL away) is reported as done, so it is acknowledged without being counted,
   * which is what acknowledging before COMMIT loses.
   */
  ackUncommitted?: boolean | undefined;
}

type ConsumerStore = Pick<TallyStore, 'applyBatch' | 'pruneAppliedBefore'>;

export function withFaultHooks(store: ConsumerStore, { rejectVidPrefix, crashVidPrefix, afterCommit, ackUncommitted }: FaultHooks): ConsumerStore {
  return {
    async applyBatch(votes: readonly VoteToApply[], shard?: number): Promise<BatchOutcome> {
      if (crashVidPrefix && votes.some((v) => v.vid.startsWith(crashVidPrefix))) {
        setImmediate(() => {
          throw new Error('fault hook: a vote no code path expected');
        });
        return new Promise<never>(() => {});
      }
      if (rejectVidPrefix && votes.some((v) => v.vid.startsWith(rejectVidPrefix))) {
        throw Object.assign(new Error('fault hook: poison vote rejected'), { code: '22000' });
      }
      const outcome = await store.applyBatch(votes, shard).catch((err: unknown) => {
        if (ackUncommitted && !isDataError(err)) return { applied: 0, duplicates: votes.length, tally: null };
        throw err;
      });
      afterCommit?.();
      return outcome;
    },
    pruneAppliedBefore: (cutoff, chunk) => store.pruneAppliedBefore(cutoff, chunk),
  };
}
