import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisKeys } from '@livevote/contract';
import { castMany, createTestEnv, startStack, streamFrames, type Stack, type TestEnv } from '@livevote/harness';

// WEB_CONCURRENCY=2: a node:cluster primary and two server processes on one public port, the
// ops port on the primary. The processes are seen from outside: each reports its open streams
// to Redis under its own PID (watcher-count.ts).
let env: TestEnv;
let stack: Stack;
let redis: Redis;

beforeAll(async () => {
  env = await createTestEnv('web_concurrency');
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' }, serverEnv: { WEB_CONCURRENCY: '2', WATCHERS_REPORT_MS: '200' } });
  redis = new Redis(env.redisUrl);
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
  await env?.cleanup();
});

/** PID → streams it reported, for every report not yet expired. */
async function reports(): Promise<Map<number, number>> {
  const all = await redis.hgetall(redisKeys(env.redisPrefix).watchers);
  const out = new Map<number, number>();
  for (const [instance, value] of Object.entries(all)) {
    const [count, until] = value.split(':').map(Number);
    if (until! > Date.now()) out.set(Number(instance.split(':').at(-2)), count!);
  }
  return out;
}
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const metricSum = (text: string, name: string) =>
  [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);

it('runs two server processes on the public port, spreads connections over both, and sums their metrics on the ops port', async () => {
  await expect.poll(async () => [...(await reports()).keys()].length, { message: 'two server processes report', timeout: 15_000 }).toBe(2);
  const pids = [...(await reports()).keys()];
  expect(pids).not.toContain(stack.server.pid);

  const streams = await Promise.all(Array.from({ length: 20 }, () => streamFrames(stack.url)));
  try {
    // The primary hands each connection to a process that is free to take it: both hold streams
    // (not always 10 each: one still busy with the last connection is passed over).
    await expect
      .poll(async () => {
        const counts = [...(await reports()).values()];
        return { processes: counts.length, total: counts.reduce((a, b) => a + b, 0), idle: counts.filter((c) => c === 0).length };
      }, { message: 'streams on both', timeout: 10_000 })
      .toEqual({ processes: 2, total: 20, idle: 0 });
  } finally {
    await Promise.all(streams.map((s) => s.stop()));
  }

  const cast = await castMany(stack.url, 200, 16);
  expect(cast.every((c) => c.status === 202)).toBe(true);
  const text = await (await fetch(`${stack.opsUrl}/metrics`)).text();
  expect(metricSum(text, 'livevote_votes_accepted_total'), 'both processes\' votes, summed').toBe(200);
  expect((await fetch(`${stack.opsUrl}/readyz`)).status).toBe(200);
  // The public port answers no metrics, as with one process.
  expect((await fetch(`${stack.url}/metrics`)).status).toBe(404);
});

it('replaces a server process that dies, and on SIGTERM stops both and exits 0', async () => {
  const before = [...(await reports()).keys()];
  expect(before).toHaveLength(2);
  process.kill(before[0]!, 'SIGKILL');
  await expect.poll(async () => [...(await reports()).keys()].filter((p) => !before.includes(p)).length, { message: 'a new process', timeout: 15_000 }).toBe(1);
  expect((await castMany(stack.url, 20, 4)).every((c) => c.status === 202)).toBe(true);
  const now = [...(await reports()).keys()].filter(alive);
  expect(now).toHaveLength(2);

  await stack.server.stop();
  expect(stack.server.exits.at(-1)).toBe(0);
  for (const pid of now) await expect.poll(() => alive(pid), { message: `process ${pid} gone`, timeout: 10_000 }).toBe(false);
});
