import type { RedisClient } from '@livevote/service-kit';
import type { Logger } from 'pino';
import type { RoundState, RoundStore } from './round-store.ts';

/**
 * KEYS[1] the round state hash; ARGV round, voting, results, seq, and 'force' to replace a newer
 * copy. A copy never replaces a newer one otherwise: two servers restoring and changing at once
 * cannot roll the state back. An equal copy is written again, so that a WAIT after it covers it.
 * Returns 1 when written, 0 when a newer copy was there (and kept).
 */
const SET_ROUND_STATE = `
local current = tonumber(redis.call('HGET', KEYS[1], 'seq'))
if current and current > tonumber(ARGV[4]) and ARGV[5] ~= 'force' then return 0 end
redis.call('HSET', KEYS[1], 'round', ARGV[1], 'voting', ARGV[2], 'results', ARGV[3], 'seq', ARGV[4])
return 1
`;

type StatePipeline = {
  setRoundState(key: string, round: number, voting: string, results: string, seq: number, force: string): StatePipeline;
  call(...args: (string | number)[]): StatePipeline;
  exec(): Promise<[Error | null, unknown][] | null>;
};
type StateRedis = Omit<RedisClient, 'pipeline'> & { pipeline(): StatePipeline; hget(key: string, field: string): Promise<string | null> };

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

/**
 * The copy of the current round's state that the vote script reads in Redis. PostgreSQL is the
 * record: a host change is written here after its COMMIT and before the host is answered;
 * `restore` puts the record back whenever Redis lost the copy (no persistence, a failover) or
 * holds another one. The record is read under the round-change lock, so a restore never writes
 * a state older than a change that is committing.
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
  /** Bumped by every `suspect()`; a restore that started at the current one clears the suspicion. */
  private suspicion = 0;
  private checkedAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(options: RoundStateCopyOptions) {
    options.redis.defineCommand('setRoundState', { numberOfKeys: 1, lua: SET_ROUND_STATE });
    this.redis = options.redis as unknown as StateRedis;
    this.options = options;
  }

  /**
   * Writes every shard's copy unless a newer one is there, each followed by a WAIT for the
   * replicas asked for. True when every copy is at least this new on the primary and, for the
   * ones written, on enough replicas.
   */
  async write(state: RoundState, force = false): Promise<boolean> {
    const done = await Promise.all(this.options.keys.map((key) => this.writeOne(key, state, force)));
    return done.every((d) => d !== 'failed');
  }

  private async writeOne(key: string, state: RoundState, force: boolean): Promise<'written' | 'newer-there' | 'failed'> {
    const acks = this.options.ackReplicas ?? 0;
    const pipeline = this.redis.pipeline().setRoundState(key, state.round, state.voting, state.results, state.seq, force ? 'force' : '');
    // On the connection (a Cluster: the node) that ran the write, so the WAIT covers it.
    if (acks > 0) pipeline.call('WAIT', acks, this.options.ackTimeoutMs ?? 1000);
    const results = await pipeline.exec().catch(() => null);
    const [err, written] = results?.[0] ?? [new Error('no reply'), 0];
    if (err) return 'failed';
    if (written !== 1) return 'newer-there';
    if (acks > 0) {
      const [waitErr, replicas] = results?.[1] ?? [new Error('no WAIT reply'), 0];
      if (waitErr || Number(replicas) < acks) return 'failed';
    }
    return 'written';
  }

  /** Whether every shard holds a copy: without one, a vote cannot be stored. */
  async present(): Promise<boolean> {
    const rounds = await Promise.all(this.options.keys.map((key) => this.redis.hget(key, 'round')));
    return rounds.every((round) => round !== null);
  }

  /**
   * False from `suspect()` until a restore that started after it has succeeded: votes are not
   * taken meanwhile (503, not stored), so none is taken by a copy that a failover rolled back.
   */
  get trusted(): boolean {
    return this.checkedAt === this.suspicion;
  }

  /**
   * The copies may be stale: the votes' connection reached another Redis (a failover, a restart,
   * a Cluster slot owner that changed). Checks them against the record at once, and again with
   * backoff until a check succeeds.
   */
  suspect(): void {
    this.suspicion++;
    this.options.logger.info({ suspicion: this.suspicion }, 'votes reach another Redis primary: checking the round state against PostgreSQL before taking votes');
    this.retrySuspected(0);
  }

  private retrySuspected(attempt: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.trusted) return;
    this.restore().catch(() => {
      const delay = Math.min(2000, 50 * 2 ** attempt);
      this.retryTimer = setTimeout(() => this.retrySuspected(attempt + 1), delay / 2 + Math.random() * (delay / 2));
      this.retryTimer.unref();
    });
  }

  /** Compares the copy with the record and fixes it; concurrent callers share one run. */
  restore(): Promise<void> {
    this.restoring ??= this.restoreOnce().finally(() => {
      this.restoring = null;
    });
    return this.restoring;
  }

  private async restoreOnce(): Promise<void> {
    const suspicion = this.suspicion;
    const record = await this.options.rounds.state();
    const results = await Promise.all(this.options.keys.map((key) => this.restoreKey(key, record)));
    if (results.some((ok) => !ok)) throw new Error('round state not written to Redis');
    this.checkedAt = Math.max(this.checkedAt, suspicion);
  }

  private async restoreKey(key: string, record: RoundState): Promise<boolean> {
    const copySeq = await this.redis.hget(key, 'seq');
    if (copySeq !== null && Number(copySeq) === record.seq) {
      this.aheadSeen.delete(key);
      return true;
    }
    if (copySeq !== null && Number(copySeq) > record.seq) {
      if (this.aheadSeen.get(key) !== Number(copySeq)) {
        this.aheadSeen.set(key, Number(copySeq));
        return true;
      }
      this.options.logger.warn({ key, copySeq: Number(copySeq), recordSeq: record.seq }, 'round state in Redis is ahead of PostgreSQL (PostgreSQL lost a committed change?); restoring the record');
      this.aheadSeen.delete(key);
      return (await this.writeOne(key, record, true)) !== 'failed';
    }
    const outcome = await this.writeOne(key, record, false);
    if (outcome === 'written') this.options.logger.info({ key, ...record, hadCopy: copySeq !== null }, 'round state restored in Redis from PostgreSQL');
    return outcome !== 'failed';
  }
}

/**
 * Calls `onChange` whenever `client` may have reached another primary: each time a connection
 * (re)becomes ready (a Sentinel failover, a restart), and for a Cluster, each time its slot map
 * names another set of masters.
 */
export function watchPrimaryChanges(client: RedisClient, onChange: () => void): void {
  if ('refreshSlotsCache' in client) {
    const masters = () =>
      client
        .nodes('master')
        .map((n) => `${n.options.host}:${n.options.port}`)
        .sort()
        .join(',');
    let known = masters();
    client.on('refresh', () => {
      const now = masters();
      if (now === known) return;
      known = now;
      onChange();
    });
    return;
  }
  // The first `ready` of a client not yet connected is its start, checked by readiness.
  let first = client.status !== 'ready';
  client.on('ready', () => {
    if (first) return void (first = false);
    onChange();
  });
}
