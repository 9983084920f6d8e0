import pg from 'pg';
import { Redis } from 'ioredis';
import { CONSUMER_GROUP, redisKeys } from '@livevote/contract';

/** Reads one number straight from PostgreSQL, bypassing the API's results cache. */
async function countOne(databaseUrl: string, sql: string): Promise<number> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ n: string }>(sql);
    return Number(rows[0]!.n);
  } finally {
    await db.end();
  }
}

export const appliedCount = (databaseUrl: string) => countOne(databaseUrl, 'SELECT count(*) AS n FROM applied_votes');
/** Every vote counted, over all rounds and shards. */
export const tallyTotal = (databaseUrl: string) => countOne(databaseUrl, 'SELECT coalesce(sum(cats + dogs), 0) AS n FROM round_tallies');

/** Entries delivered to the consumer group but not yet acknowledged. */
export async function pendingCount(redisUrl: string, prefix: string): Promise<number> {
  const r = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const [n] = (await r.xpending(redisKeys(prefix).votes, CONSUMER_GROUP)) as [number];
    return Number(n);
  } finally {
    r.disconnect();
  }
}
