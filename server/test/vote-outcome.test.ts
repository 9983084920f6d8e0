/**
 * A 503 means "not stored". When Redis answers later than REDIS_COMMAND_TIMEOUT_MS, the XADD
 * already sent still lands, so the server must not tell the client to retry: it waits for the
 * reply (up to VOTE_OUTCOME_WAIT_MS) and otherwise answers 504 "outcome unknown" with the vote ID.
 * Redis replies are delayed with CLIENT PAUSE WRITE on a private redis-server: the commands are
 * held, then run, exactly like a Redis that is slow to answer.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { castVote, createTestEnv, startPrivateRedis, type PrivateRedis, startStack, tallyTotal, type CastOutcome, type Stack, type TestEnv } from '@livevote/harness';

const OUTCOME_WAIT_MS = 1200;
const COMMAND_TIMEOUT_MS = 400;

let env: TestEnv;
let stack: Stack;
let redis: PrivateRedis;
let admin: Redis;

beforeAll(async () => {
  redis = await startPrivateRedis('outcome', { persistence: false });
  admin = new Redis(redis.url);
  env = await createTestEnv('vote_outcome', `${redis.url}/0`);
  stack = await startStack({
    ...env,
    env: { RATE_LIMIT: 'off' },
    serverEnv: { REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS), VOTE_OUTCOME_WAIT_MS: String(OUTCOME_WAIT_MS) },
  });
});
afterAll(async () => {
  await admin?.call('CLIENT', 'UNPAUSE').catch(() => {});
  admin?.disconnect();
  await stack?.stop();
  await env?.cleanup();
  await redis?.dispose();
});

/** Everything answered so far, to check the books at the end. */
const all: CastOutcome[] = [];
const castAll = async (n: number, key?: (i: number) => string) => {
  const out = await Promise.all(Array.from({ length: n }, (_, i) => castVote(stack.url, i % 2 ? 'cats' : 'dogs', key?.(i), 10_000)));
  all.push(...out);
  return out;
};
const pauseWrites = (ms: number) => admin.call('CLIENT', 'PAUSE', String(ms), 'WRITE');
const counted = async (id: string) => ((await (await fetch(`${stack.url}/api/vote/${id}`)).json()) as { counted: boolean }).counted;
/**
 * One consumer reads the stream in order: once a vote cast now is counted, every earlier entry is
 * applied. The total comes from PostgreSQL itself: `/api/results` is cached and follows the tally
 * channel, which may not have caught up with the probe's batch yet.
 */
async function settle(): Promise<number> {
  const probe = await castVote(stack.url, 'cats');
  all.push(probe);
  expect(probe.status).toBe(202);
  await expect.poll(() => counted(probe.id!), { timeout: 20_000, message: 'probe vote counted' }).toBe(true);
  return tallyTotal(env.databaseUrl);
}

it('answers 202, not 503, when the reply comes after the command timeout but within the outcome wait', async () => {
  await pauseWrites(COMMAND_TIMEOUT_MS + 500);
  const t0 = performance.now();
  const out = await castAll(20);
  const statuses = out.map((o) => o.status);
  const slowest = Math.round(Math.max(...out.map((o) => o.ms)));
  const total = await settle();
  console.log(`paused ${COMMAND_TIMEOUT_MS + 500} ms: statuses ${JSON.stringify(countBy(statuses))}, slowest ${slowest} ms, batch ${Math.round(performance.now() - t0)} ms; counted ${total - 1} of them`);
  expect(statuses.filter((s) => s === 503), 'a 503 was answered for a vote that was sent to Redis').toEqual([]);
  expect(statuses.every((s) => s === 202)).toBe(true);
  expect(total).toBe(all.filter((o) => o.status === 202).length);
});

it('answers 504 "outcome unknown" with the vote ID and no Retry-After when the reply takes longer than the wait', async () => {
  await pauseWrites(OUTCOME_WAIT_MS + 1500);
  const t0 = performance.now();
  const res = await fetch(`${stack.url}/api/vote`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"option":"dogs"}' });
  const body = (await res.json()) as { error: string; id: string };
  expect(res.status).toBe(504);
  expect(res.headers.get('retry-after')).toBeNull();
  expect(body.error).toBe('outcome unknown');
  expect(body.id).toMatch(/^[0-9a-f-]{36}$/);
  all.push({ status: 504, id: body.id, ms: 0 });
  console.log(`paused ${OUTCOME_WAIT_MS + 1500} ms: 504 after ${Math.round(performance.now() - t0)} ms (VOTE_OUTCOME_WAIT_MS ${OUTCOME_WAIT_MS})`);
  // The vote was sent; once Redis answers it is in the stream and counted, which the client can learn.
  await expect.poll(() => counted(body.id), { timeout: 20_000, message: 'the unknown vote landed and was counted' }).toBe(true);
});

it('refuses new votes with a fast 503 while Redis sits on earlier ones, and a 503 is never counted', async () => {
  await pauseWrites(2500);
  const first = castAll(10); // sent at once: all in flight, answered later (202 or 504)
  // Once a vote has waited longer than the command timeout, new ones are not sent at all.
  await expect
    .poll(async () => {
      const o = await castVote(stack.url, 'cats', undefined, 10_000);
      all.push(o);
      return o.status;
    }, { timeout: 10_000, interval: 50, message: 'a fast 503 while Redis stalls' })
    .toBe(503);
  const refused = await castAll(20);
  console.log(`stalled Redis: 20 new votes answered ${JSON.stringify(countBy(refused.map((o) => o.status)))}, slowest ${Math.round(Math.max(...refused.map((o) => o.ms)))} ms`);
  for (const o of refused) {
    expect(o.status).toBe(503);
    expect(Number(o.retryAfter)).toBeGreaterThan(0);
    expect(o.ms).toBeLessThan(300);
  }
  await first;
  await expect
    .poll(async () => {
      const o = await castVote(stack.url, 'dogs', undefined, 10_000);
      all.push(o);
      return o.status;
    }, { timeout: 10_000, interval: 50, message: 'votes accepted again once Redis answers' })
    .toBe(202);
  // Keyed votes, answered 504 or 202, are exactly-once when the client retries with its key.
  const keyed = await castAll(6, (i) => `outcome-key-${i}-${Date.now()}`);
  expect(keyed.every((o) => o.status === 202)).toBe(true);
  const total = await settle();
  const statuses = countBy(all.map((o) => o.status));
  let unknownLanded = 0;
  for (const o of all.filter((x) => x.status === 504)) if (await counted(o.id!)) unknownLanded++;
  console.log(`books: answers ${JSON.stringify(statuses)}, unknown that landed ${unknownLanded}, counted ${total}`);
  expect(Object.keys(statuses).every((s) => ['202', '503', '504'].includes(s))).toBe(true);
  // Everything counted was answered 202 or 504; not one of the 503s.
  expect(total).toBe((statuses['202'] ?? 0) + unknownLanded);
});

function countBy(xs: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
