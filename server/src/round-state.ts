import { followMoved, type RedisClient } from '@livevote/service-kit';
import type { Logger } from 'pino';
import type { RoundState, RoundStore } from './round-store.ts';

/** The replication ID of the node a script runs on: a promoted replica gets a new one. */
export const NODE_REPLID = `string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)')`;

/**
 * KEYS[1] the round state hash; ARGV round, voting, results, seq, and a mode: 'force' replaces a
 * newer copy, 'rewrite' writes an equal one again (so that a WAIT after it covers it), '' leaves
 * an equal one alone. A copy never replaces a newer one otherwise: two servers restoring and
 * changing at once cannot roll the state back. Every write stamps the copy with the node's
 * replication ID (`replid`): the vote script takes no vote by a copy stamped elsewhere, i.e. one
 * a failover carried over from the old primary before a server checked it against the record.
 * Returns {code, seq of the copy found}: 1 written, 0 a newer copy kept, 2 a newer copy kept and
 * stamped for this node, 3 an equal copy already stamped here (nothing written).
 */
const SET_ROUND_STATE = `
local here = ${NODE_REPLID}
local cur = redis.call('HMGET', KEYS[1], 'seq', 'replid')
local seq = tonumber(cur[1])
local want = tonumber(ARGV[4])
if seq and seq > want and ARGV[5] ~= 'force' then
  if cur[2] ~= here then
    redis.call('HSET', KEYS[1], 'replid', here)
    return {2, seq}
  end
  return {0, seq}
end
if seq == want and cur[2] == here and ARGV[5] == '' then return {3, seq} end
redis.call('HSET', KEYS[1], 'round', ARGV[1], 'voting', ARGV[2], 'results', ARGV[3], 'seq', ARGV[4], 'replid', here)
return {1, seq or -1}
`;

/** KEYS the copies: 1 when each is there and stamped for this node (a vote can be taken by it). */
const ROUND_STATE_USABLE = `
local here = ${NODE_REPLID}
for _, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'replid') ~= here then return 0 end
end
return 1
`;

type StatePipeline = {
  setRoundState(key: string, round: number, voting: string, results: string, seq: number, force: string): StatePipeline;
  call(...args: (string | number)[]): StatePipeline;
  exec(): Promise<[Error | null, unknown][] | null>;
};
type StateRedis = Omit<RedisClient, 'pipeline'> & { pipeline(): StatePipeline; roundStateUsable(key: string): Promise<number> };

export interface RoundStateCopyOptions {
  /**
   * Where the copies are written. With `ackReplicas`, its command timeout must leave room for a
   * WAIT of `ackTimeoutMs`.
   */
  redis: RedisClient;
  /** Each stream shard's copy (a vote's script reads the one in its own slot). */
  keys: readonly string[];
  rounds: Pick<RoundStore, 'state'>;
  logger: Logger;
  /** Replicas that must hold a written copy before it counts as written (REDIS_ACK_REPLICAS). */
  ackReplicas?: number;
  ackTimeoutMs?: number;
}

type WriteMode = 'force' | 'rewrite' | '';
type WriteOutcome = { done: 'written' | 'newer-there' | 'same'; copySeq: number } | { done: 'failed' };

/**
 * The copy of the current round's state that the vote script reads in Redis. PostgreSQL is the
 * record: a host change is written here after its COMMIT and before the host is answered;
 * `restore` puts the record back whenever Redis lost the copy (no persistence), holds another
 * one, or holds one stamped by another node (a failover): the vote script refuses votes by such a
 * copy until then. The record is read under the round-change lock, so a restore never writes a
 * state older than a change that is committing.
 *
 * A copy can be newer than the record only if PostgreSQL lost a committed change (a restore from
 * backup, an asynchronous replica promoted). It is replaced by the record only when it is still
 * there on the next check, never at first sight: a change that committed just after the record
 * was read looks the same for a moment.
 */
export class RoundStateCopy {
  private readonly redis: StateRedis;
  private readonly options: RoundStateCopyOptions;
  private restoring: Promise<void> | null = null;
  /** Per key: the newer-than-record seq seen at the last check. */
  private readonly aheadSeen = new Map<string, number>();

  constructor(options: RoundStateCopyOptions) {
    options.redis.defineCommand('setRoundState', { numberOfKeys: 1, lua: SET_ROUND_STATE });
    options.redis.defineCommand('roundStateUsable', { numberOfKeys: 1, lua: ROUND_STATE_USABLE });
    this.redis = options.redis as unknown as StateRedis;
    this.options = options;
  }

  /**
   * Writes every shard's copy unless a newer one is there, each followed by a WAIT for the
   * replicas asked for. True when every copy is at least this new on the primary and, for the
   * ones written, on enough replicas.
   */
  async write(state: RoundState): Promise<boolean> {
    const done = await Promise.all(this.options.keys.map((key) => this.writeOne(key, state, 'rewrite')));
    return done.every((d) => d.done !== 'failed');
  }

  private async writeOne(key: string, state: RoundState, mode: WriteMode): Promise<WriteOutcome> {
    const acks = this.options.ackReplicas ?? 0;
    const pipeline = this.redis.pipeline().setRoundState(key, state.round, state.voting, state.results, state.seq, mode);
    // On the connection (a Cluster: the node) that ran the write, so the WAIT covers it.
    if (acks > 0) pipeline.call('WAIT', acks, this.options.ackTimeoutMs ?? 1000);
    const results = await pipeline.exec().catch(() => null);
    if (results) followMoved(this.redis as unknown as RedisClient, results);
    const [err, reply] = results?.[0] ?? [new Error('no reply'), null];
    if (err || !Array.isArray(reply)) return { done: 'failed' };
    const [code, copySeq] = reply.map(Number) as [number, number];
    if (code === 1 || code === 2) {
      const [waitErr, replicas] = acks > 0 ? (results?.[1] ?? [new Error('no WAIT reply'), 0]) : [null, 0];
      if (waitErr || Number(replicas) < acks) return { done: 'failed' };
    }
    return { done: code === 1 ? 'written' : code === 3 ? 'same' : 'newer-there', copySeq };
  }

  /** Whether every shard's copy can take votes: there, and stamped by the node that holds it. */
  async usable(): Promise<boolean> {
    const ok = await Promise.all(this.options.keys.map((key) => this.redis.roundStateUsable(key)));
    return ok.every((o) => o === 1);
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
    const results = await Promise.all(this.options.keys.map((key) => this.restoreKey(key, record)));
    if (results.some((ok) => !ok)) throw new Error('round state not written to Redis');
  }

  private async restoreKey(key: string, record: RoundState): Promise<boolean> {
    const outcome = await this.writeOne(key, record, '');
    if (outcome.done === 'failed') return false;
    if (outcome.done === 'newer-there') {
      if (this.aheadSeen.get(key) !== outcome.copySeq) {
        this.aheadSeen.set(key, outcome.copySeq);
        return true;
      }
      this.options.logger.warn({ key, copySeq: outcome.copySeq, recordSeq: record.seq }, 'round state in Redis is ahead of PostgreSQL (PostgreSQL lost a committed change?); restoring the record');
      this.aheadSeen.delete(key);
      return (await this.writeOne(key, record, 'force')).done !== 'failed';
    }
    this.aheadSeen.delete(key);
    if (outcome.done === 'written') this.options.logger.info({ key, ...record, hadCopy: outcome.copySeq >= 0 }, 'round state restored in Redis from PostgreSQL');
    return true;
  }
}
