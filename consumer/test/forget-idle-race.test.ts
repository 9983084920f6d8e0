/**
 * Forgetting idle group members must never drop a pending entry. XGROUP DELCONSUMER deletes the
 * member's pending entries from the group's PEL, and nothing re-delivers them after that; so a
 * member that comes back and takes entries just before it is deleted would lose them. Here the
 * "ghost" takes entries right before each command the forgetting sends, one position at a time.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type Command } from 'ioredis';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { CONSUMER_GROUP, redisKeys } from '@livevote/contract';
import { TEST_REDIS_URL } from '@livevote/harness';
import { VoteStream } from '../src/vote-stream.ts';

const prefix = `t_forget_race_${randomBytes(4).toString('hex')}:`;
const keys = redisKeys(prefix);
let admin: Redis;
let ghost: Redis;
let conn: Redis;

beforeAll(async () => {
  admin = new Redis(TEST_REDIS_URL);
  ghost = new Redis(TEST_REDIS_URL);
  conn = new Redis(TEST_REDIS_URL);
  await admin.xgroup('CREATE', keys.votes, CONSUMER_GROUP, '0', 'MKSTREAM');
});
afterAll(async () => {
  await admin?.del(keys.votes, keys.deadLetter);
  admin?.disconnect();
  ghost?.disconnect();
  conn?.disconnect();
});

/**
 * Runs `hook` once, right before the `at`-th command sent on `redis` (1-based) is written; every
 * later command waits for it. Returns how many commands were sent and whether the hook ran.
 */
function interceptNth(redis: Redis, at: number, hook: () => Promise<void>): { restore(): void; sent(): number; fired(): boolean } {
  const original = redis.sendCommand.bind(redis);
  let n = 0;
  let gate: Promise<void> | null = null;
  redis.sendCommand = ((command: Command, ...rest: unknown[]) => {
    n++;
    if (n === at) gate = hook();
    if (!gate) return (original as (...a: unknown[]) => unknown)(command, ...rest);
    gate.then(
      () => (original as (...a: unknown[]) => unknown)(command, ...rest),
      (err: Error) => command.reject(err),
    );
    return command.promise;
  }) as Redis['sendCommand'];
  return { restore: () => void (redis.sendCommand = original), sent: () => n, fired: () => gate !== null };
}

const pendingIds = async (): Promise<Set<string>> => {
  const rows = (await admin.xpending(keys.votes, CONSUMER_GROUP, '-', '+', 10_000)) as [string, string, number, number][];
  return new Set(rows.map(([id]) => id));
};

it('never drops an entry that an idle member takes between the check and the delete', async () => {
  const stream = new VoteStream(conn, keys, 'live-consumer');
  const idleMs = 100;
  const lost: string[] = [];
  let positions = 0;
  for (let at = 1; ; at++) {
    const name = `ghost-${at}`;
    await admin.xgroup('CREATECONSUMER', keys.votes, CONSUMER_GROUP, name);
    for (let i = 0; i < 3; i++) await admin.xadd(keys.votes, '*', 'vid', `race-${at}-${i}`, 'option', 'cats', 'ts', String(Date.now()));
    // The ghost: silent past the threshold, holding nothing.
    await vi.waitFor(async () => {
      const rows = (await admin.call('XINFO', 'CONSUMERS', keys.votes, CONSUMER_GROUP)) as (string | number)[][];
      const row = rows.find((r) => r[r.indexOf('name') + 1] === name)!;
      expect(Number(row[row.indexOf('idle') + 1]), `${name} idle`).toBeGreaterThanOrEqual(idleMs);
    }, { timeout: 5000, interval: 20 });

    let taken: string[] = [];
    const hook = interceptNth(conn, at, async () => {
      // It wakes up and takes the new entries just before command #at of the forgetting.
      const reply = (await ghost.xreadgroup('GROUP', CONSUMER_GROUP, name, 'COUNT', 10, 'STREAMS', keys.votes, '>')) as [string, [string, string[]][]][] | null;
      taken = reply?.[0]?.[1].map(([id]) => id) ?? [];
    });
    try {
      await stream.forgetIdleConsumers(idleMs);
    } finally {
      hook.restore();
    }
    if (!hook.fired()) break; // the forgetting sent fewer commands than `at`: every position tried
    positions++;
    expect(taken, `the ghost took entries before command #${at}`).toHaveLength(3);
    const pending = await pendingIds();
    lost.push(...taken.filter((id) => !pending.has(id)).map((id) => `${id} (taken before command #${at})`));
  }
  expect(positions, 'the race was tried at every command the forgetting sends').toBeGreaterThanOrEqual(1);
  expect(lost, 'pending entries deleted with their consumer').toEqual([]);

  // And every one of them can still be taken over (XAUTOCLAIM) and acknowledged.
  const all = await pendingIds();
  const [, claimed] = (await admin.call('XAUTOCLAIM', keys.votes, CONSUMER_GROUP, 'rescuer', 0, '0-0', 'COUNT', 10_000, 'JUSTID')) as [string, string[]];
  expect(new Set(claimed)).toEqual(all);
});

it('still removes an idle member that holds nothing, and keeps itself and a member holding entries', async () => {
  const stream = new VoteStream(conn, keys, 'live-consumer');
  await admin.xgroup('CREATECONSUMER', keys.votes, CONSUMER_GROUP, 'live-consumer');
  await admin.xgroup('CREATECONSUMER', keys.votes, CONSUMER_GROUP, 'empty-pod');
  await admin.xadd(keys.votes, '*', 'vid', 'held', 'option', 'dogs', 'ts', String(Date.now()));
  await admin.xreadgroup('GROUP', CONSUMER_GROUP, 'holding-pod', 'COUNT', 1, 'STREAMS', keys.votes, '>');
  const removed = await stream.forgetIdleConsumers(0);
  expect(removed).toContain('empty-pod');
  const rows = (await admin.call('XINFO', 'CONSUMERS', keys.votes, CONSUMER_GROUP)) as (string | number)[][];
  const names = rows.map((r) => String(r[r.indexOf('name') + 1]));
  expect(names).not.toContain('empty-pod');
  expect(names).toContain('live-consumer');
  expect(names).toContain('holding-pod');
  // Every member left holds something, except the consumer itself.
  for (const r of rows) if (r[r.indexOf('name') + 1] !== 'live-consumer') expect(Number(r[r.indexOf('pending') + 1])).toBeGreaterThan(0);
});
