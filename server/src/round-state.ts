import type { RedisClient } from '@livevote/service-kit';
import type { Logger } from 'pino';
import type { RoundState, RoundStore } from './round-store.ts';

/**
 * KEYS[1] the round state hash; ARGV round, voting, results, seq, and 'force' to replace a newer
 * copy. A copy never replaces a newer one otherwise: two servers restoring and changing at once
 * cannot roll the state back.
 */
const SET_ROUND_STATE = `
local current = tonumber(redis.call('HGET', KEYS[1], 'seq'))
if current and current > tonumber(ARGV[4]) and ARGV[5] ~= 'force' then return 0 end
redis.call('HSET', KEYS[1], 'round', ARGV[1], 'voting', ARGV[2], 'results', ARGV[3], 'seq', ARGV[4])
return 1
`;

type StateRedis = RedisClient & { setRoundState(key: string, round: number, voting: string, results: string, seq: number, force: string): Promise<number> };

export interface RoundStateCopyOptions {
  redis: RedisClient;
  /** Each stream shard's copy (a vote's script reads the one in its own slot). */
  keys: readonly string[];
  rounds: Pick<RoundStore, 'state'>;
  logger: Logger;
}

/**
 * The copy of the current round's state that the vote script reads in Redis. PostgreSQL is the
 * record: `write` runs inside a host change's transaction (before its COMMIT); `restore` puts the
 * record back whenever Redis lost the copy (no persistence, a failover) or holds another one.
 *
 * A copy newer than the record exists only while some server's change is between its Redis write
 * and its COMMIT (milliseconds), or when that COMMIT failed. So a newer copy is replaced by the
 * record only when it is still there on the next check, never at first sight.
 */
export class RoundStateCopy {
  private readonly redis: StateRedis;
  private readonly options: RoundStateCopyOptions;
  private restoring: Promise<void> | null = null;
  /** Per key: the newer-than-record seq seen at the last check. */
  private readonly aheadSeen = new Map<string, number>();

  constructor(options: RoundStateCopyOptions) {
    options.redis.defineCommand('setRoundState', { numberOfKeys: 1, lua: SET_ROUND_STATE });
    this.redis = options.redis as StateRedis;
    this.options = options;
  }

  /** Writes every shard's copy; true when all took it. */
  async write(state: RoundState, force = false): Promise<boolean> {
    const done = await Promise.all(this.options.keys.map((key) => this.writeOne(key, state, force)));
    return done.every(Boolean);
  }

  private async writeOne(key: string, state: RoundState, force: boolean): Promise<boolean> {
    return (await this.redis.setRoundState(key, state.round, state.voting, state.results, state.seq, force ? 'force' : '')) === 1;
  }

  /** Whether every shard holds a copy: without one, a vote cannot be stored. */
  async present(): Promise<boolean> {
    const rounds = await Promise.all(this.options.keys.map((key) => this.redis.hget(key, 'round')));
    return rounds.every((round) => round !== null);
  }

  /** Compares the copy with the record and fixes it; concurrent callers share one run. */
  restore(): Promise<void> {
    this.restoring ??= this.restoreOnce().finally(() => {
      this.restoring = null;
    });
    return this.restoring;
  }

  private async restoreOnce(): Promise<void> {
    const record = await this.options.rounds.state();
    await Promise.all(this.options.keys.map((key) => this.restoreKey(key, record)));
  }

  private async restoreKey(key: string, record: RoundState): Promise<void> {
    const copySeq = await this.redis.hget(key, 'seq');
    if (copySeq !== null && Number(copySeq) === record.seq) {
      this.aheadSeen.delete(key);
      return;
    }
    if (copySeq !== null && Number(copySeq) > record.seq) {
      if (this.aheadSeen.get(key) !== Number(copySeq)) {
        this.aheadSeen.set(key, Number(copySeq));
        return;
      }
      this.options.logger.warn({ key, copySeq: Number(copySeq), recordSeq: record.seq }, 'round state in Redis is ahead of PostgreSQL (a change that did not commit); restoring the record');
      await this.writeOne(key, record, true);
      this.aheadSeen.delete(key);
      return;
    }
    if (await this.writeOne(key, record, false)) this.options.logger.info({ key, ...record, hadCopy: copySeq !== null }, 'round state restored in Redis from PostgreSQL');
  }
}
