/// <reference path="../types/cluster-key-slot.d.ts" />
import keySlot from 'cluster-key-slot';
import { redisKeys, type RedisKeys } from '@livevote/contract';

export const CLUSTER_SLOTS = 16384;

/** The keys of one stream shard: everything one vote touches, in one hash slot. */
export interface ShardKeys extends Pick<RedisKeys, 'votes' | 'deadLetter' | 'unfinished' | 'idempotency' | 'round'> {
  shard: number;
  /** The hash tag (without braces) shared by every key of this shard; '' for the unsharded stream. */
  tag: string;
}

/**
 * Hash tags for `shards` shards whose slots spread evenly over the slot space: shard i's tag
 * hashes to the slot nearest the middle of the i-th of `shards` equal slot ranges. A cluster
 * created with `redis-cli --cluster create` gives each master one contiguous range, so N shards
 * on N (or N/k) masters land one (or k) per master — plain {0}…{N} tags do not: their slots
 * cluster wherever CRC16 puts them. Deterministic: every process computes the same tags.
 */
export function shardTags(shards: number): string[] {
  const width = CLUSTER_SLOTS / shards;
  return Array.from({ length: shards }, (_, i) => {
    const target = Math.floor((i + 0.5) * width);
    let best = { tag: '', distance: Infinity };
    for (let k = 0; k < 4096 && best.distance > 0; k++) {
      const tag = `s${i}.${k}`;
      const distance = Math.abs(keySlot(tag) - target);
      if (distance < best.distance) best = { tag, distance };
    }
    return best.tag;
  });
}

/**
 * The stream shards' keys. `shards` null: the one unsharded stream under today's names
 * (`lv:votes`, `lv:idem:<key>` …), for standalone and Sentinel deployments that set no
 * STREAM_SHARDS. A number: that many shards, each with its keys under one hash tag
 * (`lv:{s0.12}votes`, `lv:{s0.12}idem:<key>`, `lv:{s0.12}round`, `lv:{s0.12}votes:dead`), so the
 * vote script and the dead-letter MULTI touch one slot and run on a Redis Cluster.
 */
export function shardKeys(prefix: string, shards: number | null): ShardKeys[] {
  if (shards === null) {
    const k = redisKeys(prefix);
    return [{ shard: 0, tag: '', votes: k.votes, deadLetter: k.deadLetter, unfinished: k.unfinished, idempotency: k.idempotency, round: k.round }];
  }
  return shardTags(shards).map((tag, shard) => {
    const p = `${prefix}{${tag}}`;
    return { shard, tag, votes: `${p}votes`, deadLetter: `${p}votes:dead`, unfinished: `${p}votes:unfinished`, idempotency: (key: string) => `${p}idem:${key}`, round: `${p}round` };
  });
}

/** The shard a keyed vote goes to: fixed by its key, so a retry finds its idempotency record. */
export function shardOfKey(key: string, shards: number): number {
  return keySlot(key) % shards;
}

export { keySlot };
