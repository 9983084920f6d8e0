import pg from 'pg';
import { Redis } from 'ioredis';
import { CONSUMER_GROUP } from '@livevote/contract';
import { shardKeys } from '@livevote/service-kit';

/** Reads one number straight from PostgreSQL, bypassing the API's results cache. */
async function countOne(databaseUrl: string, sql: string, params: unknown[] = []): Promise<number> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ n: string }>(sql, params);
    return Number(rows[0]!.n);
  } finally {
    await db.end();
  }
}

export const appliedCount = (databaseUrl: string) => countOne(databaseUrl, 'SELECT count(*) AS n FROM applied_votes');
/** Every vote counted, over all rounds and shards. */
/** How many of these vote IDs PostgreSQL holds. */
export const appliedAmong = (databaseUrl: string, vids: string[]) => countOne(databaseUrl, 'SELECT count(*) AS n FROM applied_votes WHERE vid = ANY($1)', [vids]);
export const tallyTotal = (databaseUrl: string) => countOne(databaseUrl, 'SELECT coalesce(sum(cats + dogs), 0) AS n FROM round_tallies');

/**
 * Commits `cats` more votes to round 1 and a seq bump straight in PostgreSQL, as a consumer would,
 * but with no PUBLISH: what a server misses while its subscription is away. Returns the new seq.
 */
export async function commitUnannounced(databaseUrl: string, cats: number): Promise<number> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await db.query('UPDATE round_tallies SET cats = cats + $1 WHERE round = 1', [cats]);
    await db.query('UPDATE tallies SET seq = seq + 1 WHERE id');
    const { rows } = await db.query<{ seq: string }>('SELECT seq FROM current_round');
    return Number(rows[0]!.seq);
  } finally {
    await db.end();
  }
}

/** Entries delivered to the consumer group but not yet acknowledged, over every stream shard. */
export async function pendingCount(redisUrl: string, prefix: string, shards: number | null = null): Promise<number> {
  const r = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let pending = 0;
    for (const k of shardKeys(prefix, shards)) pending += Number(((await r.xpending(k.votes, CONSUMER_GROUP)) as [number])[0]);
    return pending;
  } finally {
    r.disconnect();
  }
}

/** One sample of a Prometheus metric (`name{labels}`) from a server's ops port; 0 when absent. */
export async function metricValue(opsUrl: string, sample: string): Promise<number> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}
