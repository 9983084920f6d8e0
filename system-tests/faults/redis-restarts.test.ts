import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { redisKeys } from '@livevote/contract';
import { createTestEnv, freePort, RedisServer, startStack, type Stack, type TestEnv, castMany } from '@livevote/harness';
import { redisAclLines } from '@livevote/launcher';
import { figure } from './figures.ts';
import { ACL_CREDS, pendingCount, tallyTotal, VotePourer } from './harness.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

// The project's ACL users, as `npm start` and the chart's Redis run them (the default user off).
const creds = ACL_CREDS;

async function privateRedis(persistence: boolean, aclPrefix?: string): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lv-fault-redis-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const extraArgs: string[] = [];
  if (aclPrefix !== undefined) {
    const aclFile = path.join(dir, 'users.acl');
    writeFileSync(aclFile, `${redisAclLines(aclPrefix, creds).join('\n')}\n`);
    extraArgs.push('--aclfile', aclFile);
  }
  const redis = new RedisServer({ dir, port: await freePort(), appendfsync: 'always', persistence, extraArgs });
  await redis.start();
  cleanups.push(() => redis.stop());
  return redis;
}

/** A stack on `redis`; with `aclPrefix` the services log in as their ACL users, under that prefix. */
async function stackOn(redis: RedisServer, name: string, aclPrefix?: string): Promise<{ env: TestEnv; stack: Stack }> {
  const plain = `${redis.url}/0`;
  const created = await createTestEnv(name, aclPrefix === undefined ? plain : plain.replace('redis://', `redis://admin:${creds.redisAdmin}@`));
  cleanups.push(() => created.cleanup());
  const env = { ...created, redisPrefix: aclPrefix ?? created.redisPrefix };
  const as = (user: 'server' | 'consumer', password: string): Record<string, string> => (aclPrefix === undefined ? {} : { REDIS_URL: plain.replace('redis://', `redis://${user}:${password}@`) });
  const stack = await startStack({
    ...env,
    redisUrl: plain,
    env: { RATE_LIMIT: 'off' },
    serverEnv: as('server', creds.redisServer),
    consumerEnv: { CLAIM_IDLE_MS: '2000', CLAIM_EVERY_MS: '500', ...as('consumer', creds.redisConsumer) },
  });
  cleanups.push(() => stack.stop());
  return { env, stack };
}

for (const acl of [false, true]) {
  it(`Redis SIGKILLed and restarted five times under load with appendfsync always${acl ? ', as npm start and the chart run it (ACL users, the default user off)' : ''}: no 2xx vote lost, only 503 (not stored) and 504 (outcome unknown, retried with its key)`, async () => {
    const prefix = acl ? `lv_acl_${process.pid}:` : undefined;
    const redis = await privateRedis(true, prefix);
    const { env, stack } = await stackOn(redis, acl ? 'fault_redis_kill_acl' : 'fault_redis_kill', prefix);
    const pour = new VotePourer(stack.url, 16);
    pour.start();
    for (let i = 0; i < 5; i++) {
      const accepted = pour.accepted.size;
      await expect.poll(() => pour.accepted.size, { message: `votes flowing before kill ${i + 1}`, timeout: 30_000 }).toBeGreaterThanOrEqual(accepted + 300);
      const refused = pour.statuses.get(503) ?? 0;
      await redis.kill();
      await expect.poll(() => (pour.statuses.get(503) ?? 0), { message: '503 while Redis is down', timeout: 15_000 }).toBeGreaterThan(refused);
      await redis.start();
    }
    await pour.finish();
    const accepted = pour.accepted.size;
    await expect.poll(() => tallyTotal(env.databaseUrl), { message: 'every accepted vote counted', timeout: 60_000 }).toBeGreaterThanOrEqual(accepted);
    await expect.poll(() => pendingCount(env.redisUrl, env.redisPrefix), { message: 'nothing pending', timeout: 30_000 }).toBe(0);
    const counted = await tallyTotal(env.databaseUrl);
    const statuses = Object.fromEntries(pour.statuses);
    figure(`Redis SIGKILL ×5, appendfsync always${acl ? ', ACL users' : ''}`, { keys2xx: accepted, counted, statuses });
    expect(counted).toBe(accepted);
    // A vote written just before the kill has no answer: 504, never 503 (it may be stored). Its key
    // is retried until 202, so every key is counted exactly once either way.
    expect(Object.keys(statuses).filter((s) => !['202', '503', '504'].includes(s))).toEqual([]);
    expect(statuses['503']).toBeGreaterThan(0);
  });
}

it('Redis restarted without persistence: the consumer recreates its group and goes on; the loss equals the lag at the kill', async () => {
  const redis = await privateRedis(false);
  const { env, stack } = await stackOn(redis, 'fault_redis_volatile');
  const consumer = stack.consumers[0]!;
  expect((await castMany(stack.url, 500, 16)).every((o) => o.status === 202)).toBe(true);
  await expect.poll(() => tallyTotal(env.databaseUrl), { message: 'first 500 counted', timeout: 15_000 }).toBe(500);
  // A consumer that hangs lets a lag build up, which the crash then takes with it.
  consumer.pause();
  expect((await castMany(stack.url, 700, 16)).every((o) => o.status === 202)).toBe(true);
  // Lag: entries in the stream not yet delivered to the group (XINFO GROUPS), read at the kill.
  // Entries the hung consumer already holds are applied when it resumes; they are not lost.
  const probe = new Redis(`${redis.url}/0`);
  const groups = (await probe.call('XINFO', 'GROUPS', redisKeys(env.redisPrefix).votes)) as unknown[][];
  probe.disconnect();
  const lagAtKill = Number(groups[0]![groups[0]!.indexOf('lag') + 1]);
  await redis.kill();
  await redis.start();
  consumer.resume();
  await expect.poll(async () => (await castMany(stack.url, 1, 1))[0]!.status, { message: 'votes accepted again', timeout: 20_000 }).toBe(202);
  expect((await castMany(stack.url, 299, 16)).every((o) => o.status === 202)).toBe(true);
  await expect.poll(() => tallyTotal(env.databaseUrl), { message: 'votes after the restart counted', timeout: 30_000 }).toBeGreaterThanOrEqual(500 + 300);
  await expect.poll(() => pendingCount(env.redisUrl, env.redisPrefix), { message: 'nothing pending', timeout: 15_000 }).toBe(0);
  const counted = await tallyTotal(env.databaseUrl);
  const accepted = 500 + 700 + 300;
  figure('Redis restart without persistence', { votes2xx: accepted, counted, lost: accepted - counted, lagAtKill });
  expect(consumer.running).toBe(true);
  expect(lagAtKill).toBeGreaterThan(600);
  expect(accepted - counted).toBe(lagAtKill);
});
