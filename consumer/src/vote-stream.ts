import { publishMessage, type RedisClient } from '@livevote/service-kit';
import { CONSUMER_GROUP, VoteEntry, type RedisKeys, type TallyMessage } from '@livevote/contract';

/** The names one stream shard's consumer uses: its stream and dead letters, and the one tally channel. */
export type StreamNames = Pick<RedisKeys, 'votes' | 'deadLetter' | 'unfinished' | 'tallyChannel' | 'idempotency'>;

export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
}

type RawEntry = [id: string, fields: string[] | null];

function toEntries(raw: RawEntry[] | null | undefined): StreamEntry[] {
  if (!raw) return [];
  return raw.map(([id, flat]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; flat && i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
    return { id, fields };
  });
}

export function parseVote(entry: StreamEntry): VoteEntry | null {
  const parsed = VoteEntry.safeParse(entry.fields);
  return parsed.success ? parsed.data : null;
}

/** Redis stream ids compare as (ms, seq) pairs, never as strings. */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const e = BigInt(as) - BigInt(bs);
  return e === 0n ? 0 : e < 0n ? -1 : 1;
}

/**
 * KEYS[1] the stream, ARGV group, own name, idle ms. Deletes each other consumer with nothing
 * pending and idle at least that long, in one atomic step, and returns their names. Declares its
 * one key, so it runs on a Redis Cluster node and is checked against the stream's ACL selector.
 */
const FORGET_IDLE_CONSUMERS = `
local removed = {}
for _, row in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local c = {}
  for i = 1, #row, 2 do c[row[i]] = row[i + 1] end
  if c.name ~= ARGV[2] and tonumber(c.pending) == 0 and tonumber(c.idle) >= tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], c.name)
    removed[#removed + 1] = c.name
  end
end
return removed
`;

/** The consumer group's view of the votes stream: every Redis command the consumer sends. */
export class VoteStream {
  readonly keys: StreamNames;
  readonly group = CONSUMER_GROUP;
  private readonly redis: RedisClient;
  private readonly consumer: string;

  constructor(redis: RedisClient, keys: StreamNames, consumer: string) {
    this.redis = redis;
    this.keys = keys;
    this.consumer = consumer;
  }

  /**
   * Idempotent. Starts at 0, not $: if Redis lost the group (restart without persistence) but
   * kept entries, nothing already in the stream is skipped; re-applied votes are deduplicated.
   */
  async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.keys.votes, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  /** `cursor` '>' reads new entries; '0' re-reads this consumer's own pending entries. */
  async read(client: RedisClient, count: number, blockMs: number, cursor: '>' | '0'): Promise<StreamEntry[]> {
    const args: (string | number)[] = ['GROUP', this.group, this.consumer, 'COUNT', count];
    if (cursor === '>' && blockMs > 0) args.push('BLOCK', blockMs);
    args.push('STREAMS', this.keys.votes, cursor);
    const reply = (await client.call('XREADGROUP', ...args)) as unknown[] | null;
    if (!reply || reply.length === 0) return [];
    // RESP3 answers a map (flattened to [key, entries]); RESP2 a list of [key, entries] pairs.
    const entries = typeof reply[0] === 'string' ? reply[1] : (reply[0] as unknown[])[1];
    return toEntries(entries as RawEntry[]);
  }

  /** Takes over entries idle longer than `minIdleMs` (their consumer died or stalled). */
  async reclaim(minIdleMs: number, count: number, start = '0-0'): Promise<{ next: string; entries: StreamEntry[]; deleted: string[] }> {
    const [next, raw, deleted] = (await this.redis.call(
      'XAUTOCLAIM', this.keys.votes, this.group, this.consumer, minIdleMs, start, 'COUNT', count,
    )) as [string, RawEntry[], string[]];
    return { next, entries: toEntries(raw), deleted: deleted ?? [] };
  }

  /** Delivery counts for pending entries of this consumer between two ids. */
  async deliveryCounts(minId: string, maxId: string, count: number): Promise<Map<string, number>> {
    const rows = (await this.redis.call(
      'XPENDING', this.keys.votes, this.group, minId, maxId, count, this.consumer,
    )) as [string, string, number, number][];
    return new Map(rows.map(([id, , , deliveries]) => [id, Number(deliveries)]));
  }

  /**
   * Marks a batch read for the first time ('>': every entry from `first` to `last`, no other
   * consumer's) with this consumer's name before it runs, in one field: a process that dies (or a
   * handler that throws) on the way leaves the mark, and whoever gets the entries next knows they
   * were in a batch that never finished. Returns the mark's field, for `settle`.
   */
  async markRange(first: string, last: string): Promise<string> {
    await this.redis.hset(this.keys.unfinished, first, `${this.consumer}|0|${last}`);
    return first;
  }

  /**
   * Marks entries one by one (re-delivered ones): `attempting` ones with this consumer's name, the
   * others with none (suspects waiting for their turn), each with its crash count; and drops
   * `replaced`, the range marks whose entries now have marks of their own.
   */
  async markEntries(marks: readonly { id: string; crashes: number; attempting: boolean }[], replaced: readonly string[] = []): Promise<void> {
    const p = this.redis.pipeline();
    // First: a range mark's field is its first entry's ID, which may get a mark of its own here.
    if (replaced.length) p.hdel(this.keys.unfinished, ...replaced);
    if (marks.length) p.hset(this.keys.unfinished, Object.fromEntries(marks.map((m) => [m.id, `${m.attempting ? this.consumer : ''}|${m.crashes}`])));
    if (p.length === 0) return;
    const failed = ((await p.exec()) ?? []).find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  /**
   * How often each entry has crashed a consumer (0 for an entry without a mark), in the order
   * asked, from its own mark or else the range mark that holds it; and the range marks that held
   * any of them. A mark with this consumer's name is an attempt of an earlier life of this
   * consumer, or one that threw in this life: one more crash. Another consumer's name is not
   * counted: that one may be alive, only slow, and this consumer takes the entry over. The hash
   * holds a field per batch in flight and per suspect, so reading it whole is cheap; it is read
   * only for re-delivered entries.
   */
  async crashesSoFar(ids: readonly string[]): Promise<{ crashes: number[]; ranges: string[] }> {
    if (ids.length === 0) return { crashes: [], ranges: [] };
    const marks = Object.entries(await this.redis.hgetall(this.keys.unfinished)).map(([field, value]) => {
      const [owner = '', crashes = '0', last] = value.split('|');
      return { field, owner, crashes: Number(crashes) || 0, last };
    });
    const own = new Map(marks.filter((m) => m.last === undefined).map((m) => [m.field, m]));
    const ranges = marks.filter((m) => m.last !== undefined);
    const covering = new Set<string>();
    const crashes = ids.map((id) => {
      let m = own.get(id);
      if (!m) {
        m = ranges.find((r) => compareIds(r.field, id) <= 0 && compareIds(id, r.last!) <= 0);
        if (m) covering.add(m.field);
      }
      if (!m) return 0;
      return m.owner === this.consumer ? m.crashes + 1 : m.crashes;
    });
    return { crashes, ranges: [...covering] };
  }

  /**
   * Ends a batch in one round trip: acknowledges `ack`, drops the idempotency records of
   * `forget` (vote IDs PostgreSQL now holds: from here on `applied_votes` deduplicates a retry of
   * their key, so Redis keeps a record only while its vote is in flight) and clears the marks of
   * `finished`. A failed XACK throws (the entries come back, a no-op); a record or mark left
   * behind only costs memory, so those failures are returned, not thrown. A record of a keyless
   * vote never existed; UNLINK of a missing key is a no-op. Every key shares the stream's hash
   * tag, so the pipeline stays on one Cluster node.
   */
  async settle({ ack, forget, finished }: { ack: readonly string[]; forget: readonly string[]; finished: readonly string[] }): Promise<Error | null> {
    const p = this.redis.pipeline();
    if (ack.length) p.xack(this.keys.votes, this.group, ...ack);
    if (forget.length) p.unlink(...forget.map((vid) => this.keys.idempotency(vid)));
    if (finished.length) p.hdel(this.keys.unfinished, ...finished);
    if (p.length === 0) return null;
    const results = (await p.exec()) ?? [];
    if (ack.length && results[0]?.[0]) throw results[0][0];
    return results.slice(ack.length ? 1 : 0).find(([err]) => err)?.[0] ?? null;
  }

  /**
   * Copies an entry to the dead-letter stream, acknowledges it and clears its mark, atomically.
   * `extra` fields (e.g. `crashes`) go next to `reason` and `deliveries`; the vote's own fields
   * follow as `f.<name>`, as written, for a replay.
   */
  async deadLetter(entry: StreamEntry, reason: string, deliveries: number, extra: Record<string, string> = {}): Promise<void> {
    const flat = Object.entries(entry.fields).flatMap(([k, v]) => [`f.${k}`, v]);
    await this.redis
      .multi()
      .xadd(this.keys.deadLetter, '*', 'source_id', entry.id, 'reason', reason, 'deliveries', String(deliveries), ...Object.entries(extra).flat(), ...flat)
      .xack(this.keys.votes, this.group, entry.id)
      .hdel(this.keys.unfinished, entry.id)
      .exec()
      .then((res) => {
        const failed = res?.find(([err]) => err);
        if (failed?.[0]) throw failed[0];
      });
  }

  async publish(tally: TallyMessage): Promise<void> {
    await publishMessage(this.redis, this.keys.tallyChannel, JSON.stringify(tally));
  }

  /**
   * Trims only below what the group has acknowledged: the smallest pending id, or, with nothing
   * pending, the last delivered id. Entries not yet read are above both and are never touched.
   */
  async trimAcknowledged(): Promise<number> {
    const groups = (await this.redis.call('XINFO', 'GROUPS', this.keys.votes)) as (string | number)[][];
    const info = groups.map((g) => {
      const o: Record<string, string | number> = {};
      for (let i = 0; i + 1 < g.length; i += 2) o[String(g[i])] = g[i + 1] as string | number;
      return o;
    });
    if (info.length === 0) return 0;
    let floor: string | null = null;
    for (const g of info) {
      const summary = (await this.redis.call('XPENDING', this.keys.votes, String(g.name))) as [number, string | null, string | null, unknown];
      const candidate = Number(summary[0]) > 0 && summary[1] ? summary[1] : String(g['last-delivered-id']);
      if (floor === null || compareIds(candidate, floor) < 0) floor = candidate;
    }
    if (!floor || floor === '0-0') return 0;
    return Number(await this.redis.call('XTRIM', this.keys.votes, 'MINID', floor));
  }

  /**
   * Removes consumers of the group that hold nothing and have been silent for `idleMs`: pods
   * are named consumers, so every restart leaves a name behind. One holding entries is kept
   * (XAUTOCLAIM takes those over first). Returns the names removed.
   *
   * XGROUP DELCONSUMER drops the consumer's pending entries from the group, and nothing would
   * ever re-deliver them; and XREADGROUP does not touch WATCH, so a check followed by a delete,
   * even in MULTI/EXEC, can delete entries a returning consumer took in between. Hence one
   * script: the check (XINFO CONSUMERS: pending 0, idle long enough) and the delete run
   * atomically, so no consumer can take an entry between them.
   */
  async forgetIdleConsumers(idleMs: number): Promise<string[]> {
    const removed = (await this.redis.eval(FORGET_IDLE_CONSUMERS, 1, this.keys.votes, this.group, this.consumer, idleMs)) as string[] | null;
    return removed ?? [];
  }

  /** The id of the oldest entry still in the stream, or null when it is empty. */
  async oldestEntryId(): Promise<string | null> {
    const rows = (await this.redis.xrange(this.keys.votes, '-', '+', 'COUNT', 1)) as [string, string[]][];
    return rows[0]?.[0] ?? null;
  }

  async stats(): Promise<{ length: number; pending: number; lag: number | null }> {
    const [length, groups] = await Promise.all([
      this.redis.xlen(this.keys.votes),
      this.redis.call('XINFO', 'GROUPS', this.keys.votes) as Promise<(string | number | null)[][]>,
    ]);
    for (const g of groups) {
      const o: Record<string, string | number | null> = {};
      for (let i = 0; i + 1 < g.length; i += 2) o[String(g[i])] = g[i + 1] ?? null;
      if (o.name === this.group) {
        return { length, pending: Number(o.pending ?? 0), lag: o.lag === null || o.lag === undefined ? null : Number(o.lag) };
      }
    }
    return { length, pending: 0, lag: length };
  }
}
