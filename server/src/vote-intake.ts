import { ReplyError } from 'ioredis';
import { randomUUID } from 'node:crypto';
import type { VoteOption } from '@livevote/contract';
import { followMoved, shardOfKey, type RedisClient, type ShardKeys } from '@livevote/service-kit';
import { NODE_REPLID } from './round-state.ts';

/**
 * Every vote is this one script, so the round that counts it is read atomically with the XADD:
 * KEYS[1] the current round's state (hash), KEYS[2] the stream, KEYS[3] (keyed votes only) the
 * idempotency record. The entry carries the round that was open, and the consumer counts it there
 * however late it applies it; a closed round takes nothing.
 *
 * Keyed votes: the record and the XADD happen together, so there is no window in which a key is
 * "in flight": a concurrent replay sees either nothing (and wins) or the finished first request.
 * A replay is answered as the first request was, even after voting closed. The record keeps the
 * option, to tell a replay from a misuse, and lives only IDEMPOTENCY_WINDOW_SECONDS: Redis memory
 * is bounded by the votes of that window. A retry after it runs the XADD again with the same vote
 * ID, and the consumer's applied-votes table (kept APPLIED_RETENTION_HOURS) skips it.
 *
 * No round state at all (a Redis that lost its data), or one stamped by another node (a failover
 * carried it over, and it may miss a change the old primary took), stores nothing: the server
 * restores the state from PostgreSQL and the vote is answered 503, safe to retry.
 */
const CAST_VOTE = `
if KEYS[3] then
  local prev = redis.call('GET', KEYS[3])
  if prev then
    -- A write, so that a WAIT after this replay also covers the first request's write.
    redis.call('EXPIRE', KEYS[3], ARGV[4])
    return {'prev', prev}
  end
end
local state = redis.call('HMGET', KEYS[1], 'round', 'voting', 'replid')
if not state[1] then return {'no-round'} end
if state[3] ~= ${NODE_REPLID} then return {'unchecked'} end
if state[2] ~= 'open' then return {'closed', state[1]} end
redis.call('XADD', KEYS[2], '*', 'vid', ARGV[1], 'option', ARGV[2], 'ts', ARGV[3], 'round', state[1])
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[4]) end
return {'ok', state[1]}
`;

/**
 * UUIDv7 (RFC 9562): 48-bit ms timestamp, version 7, then randomness taken from randomUUID(),
 * which draws from a cached entropy pool. The `uuid` package's v7 made a getrandom call per id,
 * 4 % of the vote route's CPU in a profile.
 */
export function uuidv7(now = Date.now()): string {
  const r = randomUUID();
  const t = now.toString(16).padStart(12, '0');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${r.slice(15, 18)}-${r.slice(19)}`;
}

type Reply = ['ok' | 'closed', string] | ['prev', string] | ['no-round'] | ['unchecked'];
type CastArgs = [numberOfKeys: 2 | 3, ...keysAndArgs: (string | number)[]];
type VoteRedis = RedisClient & { castVote(...args: CastArgs): Promise<Reply> };
type VotePipeline = { castVote(...args: CastArgs): VotePipeline; call(...args: (string | number)[]): VotePipeline; exec(): Promise<[Error | null, unknown][] | null> };

/**
 * - `accepted` / `replayed`: the vote is in Redis (202).
 * - `key-reused`: the key was used for the other option within the window (422).
 * - `closed`: voting is closed; nothing was stored (409).
 * - `not-stored`: the command surely did not change Redis — never written (client not
 *   connected, or Redis already sitting on earlier commands), or Redis answered an error (503).
 * - `unknown`: written, but no answer within the outcome wait, or the connection dropped after
 *   the write. It may land later; the client must not retry without its key (504).
 */
export type CastResult =
  | { kind: 'accepted'; id: string }
  | { kind: 'replayed'; id: string }
  | { kind: 'key-reused'; id: string }
  | { kind: 'closed'; id: string }
  | { kind: 'not-stored'; id: string; reason: NotStoredReason }
  | { kind: 'unknown'; id: string };

/**
 * `no_round`: Redis holds no round state (it lost its data); the server restores it from PostgreSQL.
 * `unchecked`: the copy was stamped by another node (a failover carried it over) and is not yet
 * checked against PostgreSQL; the server does that now.
 */
export type NotStoredReason = 'disconnected' | 'stalled' | 'refused' | 'no_round' | 'unchecked';

/** How a vote answered `unknown` turned out, once Redis answered after all. */
export type LateOutcome = 'stored' | 'not_stored' | 'unknown';

export interface VoteIntakeOptions {
  /**
   * A client with no command timeout of its own (`commandTimeoutMs: null`): once a command is
   * written, only its reply tells whether it ran, so the intake waits for it (bounded by
   * `outcomeWaitMs`) instead of letting ioredis reject it while it may still land.
   */
  redis: RedisClient;
  /** The stream shards; a keyed vote goes to the shard its key hashes to, others round-robin. */
  shards: readonly ShardKeys[];
  /**
   * Replicas that must hold a vote before it is answered 202 (WAIT). 0: the primary's reply is
   * enough. A WAIT that times out short of this answers "outcome unknown" (the vote may be on
   * the primary), never 503.
   */
  ackReplicas?: number;
  ackTimeoutMs?: number;
  /** Seconds an Idempotency-Key's record stays in Redis. */
  idempotencyWindowSeconds: number;
  /** How long a vote waits for Redis's reply before it is answered "outcome unknown". */
  outcomeWaitMs: number;
  /**
   * While a written command has waited longer than this for its reply, Redis is not answering:
   * new votes are not sent at all and answered 503 at once (surely not stored), so a stalled
   * Redis gives fast, truthful 503s and the in-flight commands stay bounded.
   */
  stallMs: number;
  /** Told how each vote answered `unknown` turned out, when Redis answers after all. */
  onLateOutcome?: (outcome: LateOutcome) => void;
  /**
   * Redis answered that it holds no round state, or one not yet checked on this node (a failover
   * carried it over): restore it (the vote itself gets a 503).
   */
  onNoRound?: () => void;
}

type Settled = { ok: true; reply: Reply } | { ok: false; err: unknown };

/** The command was refused before it was written (ioredis, offline queue off). */
const neverWritten = (err: unknown) => err instanceof Error && err.message.startsWith("Stream isn't writeable");
/** Redis ran the command and answered an error (OOM, NOPERM …): nothing was written. */
const refusedByRedis = (err: unknown) => err instanceof ReplyError;

/** Puts votes into the stream; the vote ID is chosen here, before XADD, and travels in the entry. */
export class VoteIntake {
  private readonly redis: VoteRedis;
  private readonly options: VoteIntakeOptions;
  /** Written commands awaiting their reply: sequence number → when sent (insertion order = age). */
  private readonly inflight = new Map<number, number>();
  private seq = 0;
  private nextShard = 0;
  /** Votes waiting for this tick's WAIT, per shard: one pipeline of scripts + one WAIT each. */
  private readonly awaitingAck = new Map<number, { args: CastArgs; settle: (s: Settled) => void }[]>();
  /** Shards with a WAIT in flight: a WAIT blocks its connection, so the next group waits for it. */
  private readonly flushing = new Set<number>();

  constructor(options: VoteIntakeOptions) {
    // numberOfKeys is given per call: 2 for a keyless vote, 3 with an idempotency record.
    options.redis.defineCommand('castVote', { lua: CAST_VOTE });
    this.redis = options.redis as VoteRedis;
    this.options = options;
  }

  /** Commands written and not yet answered. */
  get pending(): number {
    return this.inflight.size;
  }

  /**
   * Redis has left a written command unanswered for longer than `stallMs` (plus, with replica
   * acknowledgements, the time WAITs may take by design: a vote may wait for the group ahead of it
   * and then its own, and a slow replica is not a stalled Redis).
   */
  stalled(now = performance.now()): boolean {
    const limit = this.options.stallMs + ((this.options.ackReplicas ?? 0) > 0 ? 2 * (this.options.ackTimeoutMs ?? 1000) : 0);
    for (const sentAt of this.inflight.values()) return now - sentAt > limit;
    return false;
  }

  async cast(option: VoteOption, idempotencyKey: string | undefined): Promise<CastResult> {
    const id = idempotencyKey ?? uuidv7();
    if (this.redis.status !== 'ready') return { kind: 'not-stored', id, reason: 'disconnected' };
    if (this.stalled()) return { kind: 'not-stored', id, reason: 'stalled' };

    const ts = String(Date.now());
    const n = this.seq++;
    this.inflight.set(n, performance.now());
    const { shards, idempotencyWindowSeconds } = this.options;
    const shard = idempotencyKey === undefined ? this.nextShard++ % shards.length : shardOfKey(idempotencyKey, shards.length);
    const keys = shards[shard] as ShardKeys;
    const args: CastArgs =
      idempotencyKey === undefined
        ? [2, keys.round, keys.votes, id, option, ts, idempotencyWindowSeconds]
        : [3, keys.round, keys.votes, keys.idempotency(idempotencyKey), id, option, ts, idempotencyWindowSeconds];
    const sent: Promise<Settled> =
      (this.options.ackReplicas ?? 0) > 0
        ? this.castAcked(shard, args)
        : this.redis.castVote(...args).then((reply): Settled => ({ ok: true, reply }), (err: unknown): Settled => ({ ok: false, err }));
    const settled = sent.finally(() => this.inflight.delete(n));

    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<'waited'>((resolve) => (timer = setTimeout(resolve, this.options.outcomeWaitMs, 'waited')));
    const first = await Promise.race([settled, waited]);
    clearTimeout(timer);
    if (first === 'waited') {
      void settled.then((late) => this.options.onLateOutcome?.(late.ok ? 'stored' : neverWritten(late.err) || refusedByRedis(late.err) ? 'not_stored' : 'unknown'));
      return { kind: 'unknown', id };
    }
    if (!first.ok) {
      if (first.err === NOT_REPLICATED) return { kind: 'unknown', id };
      if (neverWritten(first.err)) return { kind: 'not-stored', id, reason: 'disconnected' };
      if (refusedByRedis(first.err)) return { kind: 'not-stored', id, reason: 'refused' };
      // Written, then the connection dropped (or another error after the write): it may have run.
      return { kind: 'unknown', id };
    }
    const [status, value] = first.reply;
    if (status === 'ok') return { kind: 'accepted', id };
    if (status === 'closed') return { kind: 'closed', id };
    if (status === 'no-round' || status === 'unchecked') {
      this.options.onNoRound?.();
      return { kind: 'not-stored', id, reason: status === 'no-round' ? 'no_round' : 'unchecked' };
    }
    return value === option ? { kind: 'replayed', id } : { kind: 'key-reused', id };
  }

  /**
   * Sends the vote in this tick's pipeline for its shard: every script of the tick, then one
   * `WAIT ackReplicas ackTimeoutMs`, on the connection (the shard's node, in a Cluster) that ran
   * them, so one WAIT covers them all. A stored vote counts as stored only when the WAIT says
   * enough replicas have it. While a shard's WAIT is in flight, its connection is blocked: the
   * next group gathers meanwhile and goes when that WAIT returns, so WAITs never queue up.
   */
  private castAcked(shard: number, args: CastArgs): Promise<Settled> {
    return new Promise<Settled>((settle) => {
      let group = this.awaitingAck.get(shard);
      if (!group) {
        group = [];
        this.awaitingAck.set(shard, group);
        if (!this.flushing.has(shard)) setImmediate(() => void this.flushAcked(shard));
      }
      group.push({ args, settle });
    });
  }

  private async flushAcked(shard: number): Promise<void> {
    this.flushing.add(shard);
    try {
      await this.sendAcked(shard);
    } finally {
      this.flushing.delete(shard);
    }
    // What gathered during the WAIT goes now, before a new vote could schedule a flush of its own.
    if (this.awaitingAck.has(shard)) void this.flushAcked(shard);
  }

  private async sendAcked(shard: number): Promise<void> {
    const group = this.awaitingAck.get(shard) ?? [];
    this.awaitingAck.delete(shard);
    const pipeline = (this.redis as unknown as { pipeline(): VotePipeline }).pipeline();
    for (const g of group) pipeline.castVote(...g.args);
    pipeline.call('WAIT', this.options.ackReplicas ?? 0, this.options.ackTimeoutMs ?? 1000);
    let results: [Error | null, unknown][];
    try {
      results = (await pipeline.exec()) ?? [];
    } catch (err) {
      for (const g of group) g.settle({ ok: false, err });
      return;
    }
    // Votes that got a MOVED were not run (503); the next ones go to the new master.
    followMoved(this.redis, results);
    const [waitErr, replicas] = results[group.length] ?? [new Error('no WAIT reply'), 0];
    const replicated = !waitErr && Number(replicas) >= (this.options.ackReplicas ?? 0);
    group.forEach((g, i) => {
      const [err, reply] = results[i] ?? [new Error('no reply'), null];
      if (err) return g.settle({ ok: false, err });
      const status = (reply as Reply)[0];
      // Stored (or a replay of a stored vote) but not on enough replicas: it may be lost in a failover.
      if ((status === 'ok' || status === 'prev') && !replicated) return g.settle({ ok: false, err: NOT_REPLICATED });
      g.settle({ ok: true, reply: reply as Reply });
    });
  }
}

/** The WAIT came back short of REDIS_ACK_REPLICAS (or failed): stored on the primary, maybe not beyond. */
const NOT_REPLICATED = new Error('not acknowledged by enough replicas in time');
