import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { shardKeys } from '@livevote/service-kit';
import { redisAclLines } from '@livevote/launcher';
import { castVote, createTestEnv, startSentinelSet, startStack, type SentinelSet, type Stack, type TestEnv } from '@livevote/harness';
import { countBy, figure } from './figures.ts';
import { ACL_CREDS, tallyTotal, VotePourer, votesUntilClosed } from './harness.ts';

// A real Sentinel set (primary, replica, three Sentinels; the project's ACL users on the data
// nodes), and the services reaching Redis through the Sentinels only.
const creds = ACL_CREDS;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function sentinelStack(
  name: string,
  serverEnv: Record<string, string>,
  opts: { consumers?: number; pauseFirstSentinel?: boolean } = {},
): Promise<{ set: SentinelSet; env: TestEnv; stack: Stack; admin: () => Promise<Redis> }> {
  const env = await createTestEnv(name);
  cleanups.push(() => env.cleanup());
  const auth = { username: 'admin', password: creds.redisAdmin };
  const set = await startSentinelSet({ quorum: 2, downAfterMs: 1000, failoverTimeoutMs: 3000, acl: `${redisAclLines(env.redisPrefix, creds).join('\n')}\n`, auth });
  cleanups.push(() => set.stopAll());
  if (opts.pauseFirstSentinel) {
    // The first Sentinel the services ask accepts connections and never answers: each lookup of
    // the primary must give up on it and ask the next.
    const paused = set.sentinelNodes[0]!.port;
    await set.signal(paused, 'SIGSTOP');
    cleanups.push(() => set.signal(paused, 'SIGCONT'));
  }
  const stack = await startStack({
    ...env,
    redisUrl: undefined,
    env: { REDIS_SENTINELS: set.sentinels, REDIS_SENTINEL_NAME: set.name, RATE_LIMIT: 'off' },
    serverEnv: { REDIS_USERNAME: 'server', REDIS_PASSWORD: creds.redisServer, ...serverEnv },
    consumerEnv: { REDIS_USERNAME: 'consumer', REDIS_PASSWORD: creds.redisConsumer, CLAIM_IDLE_MS: '2000', CLAIM_EVERY_MS: '500' },
    consumers: opts.consumers ?? 1,
  });
  cleanups.push(() => stack.stop());
  // An operator's connection to whichever node is the primary now.
  const admin = async () => {
    const r = new Redis({ ...(await set.primary()), ...auth, maxRetriesPerRequest: 1 });
    cleanups.push(() => r.disconnect());
    return r;
  };
  return { set, env, stack, admin };
}

/** Runs a step of a drill; a failure carries every node's and service's last log lines. */
async function explained<T>(set: SentinelSet, stack: Stack, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    const services = [stack.server, ...stack.consumers].map((p, i) => `--- ${i ? `consumer ${i}` : 'server'}:\n${p.output().split('\n').slice(-25).join('\n')}`);
    throw new Error(`${(err as Error).message}\n${set.logs()}\n${services.join('\n')}`, { cause: err });
  }
}

it('the primary SIGKILLed under load, one Sentinel paused all along: the services follow the promoted replica; every 202 counted once', async () => {
  const ack = { REDIS_ACK_REPLICAS: '1', REDIS_ACK_TIMEOUT_MS: '800', VOTE_OUTCOME_WAIT_MS: '1800' };
  const { set, env: testEnv, stack } = await sentinelStack('fault_sentinel_kill', ack, { pauseFirstSentinel: true });
  const pour = new VotePourer(stack.url, 16);
  pour.start();
  await expect.poll(() => pour.accepted.size, { message: 'votes flowing', timeout: 30_000 }).toBeGreaterThanOrEqual(500);
  const oldPrimary = await set.primary();
  const t0 = Date.now();
  await set.kill(oldPrimary.port, 'SIGKILL');
  const next = await set.waitForFailover(oldPrimary.port);
  const failoverMs = Date.now() - t0;
  // The promoted replica has no replica: with REDIS_ACK_REPLICAS=1 votes are 504 until the old
  // primary is back (as a pod would be) and the Sentinels have made it a replica.
  await set.start(oldPrimary.port);
  const atFailover = pour.accepted.size;
  await explained(set, stack, () => expect.poll(() => pour.accepted.size, { message: 'votes flowing again after the failover', timeout: 60_000 }).toBeGreaterThanOrEqual(atFailover + 500));
  const flowingMs = Date.now() - t0;
  await pour.finish();
  const accepted = pour.accepted.size;
  await expect.poll(() => tallyTotal(testEnv.databaseUrl), { message: 'every accepted vote counted', timeout: 60_000 }).toBeGreaterThanOrEqual(accepted);
  const counted = await tallyTotal(testEnv.databaseUrl);
  const statuses = Object.fromEntries(pour.statuses);
  figure('Redis Sentinel: primary SIGKILL under load, one Sentinel paused, REDIS_ACK_REPLICAS=1', { keys2xx: accepted, counted, failoverMs, flowingAgainMs: flowingMs, newPrimary: next.port !== oldPrimary.port, statuses });
  expect(counted).toBe(accepted);
  expect(Object.keys(statuses).filter((s) => !['202', '503', '504'].includes(s))).toEqual([]);
});

for (const replicas of [0, 1] as const) {
  it(`lost writes, deterministically, with REDIS_ACK_REPLICAS=${replicas}: replica SIGSTOPped (its link cut), votes taken, primary SIGKILLed, replica resumed and promoted`, async () => {
    const { set, env, stack, admin } = await sentinelStack(`sentinel_lost${replicas}`, { REDIS_ACK_REPLICAS: String(replicas), REDIS_ACK_TIMEOUT_MS: '300' }, { consumers: 0 });
    const votes = shardKeys(env.redisPrefix, null)[0]!.votes;
    // One vote the replica surely holds (and the round state with it).
    expect((await castVote(stack.url, 'cats', `lost-${replicas}-before`)).status).toBe(202);
    const primaryAdmin = await admin();
    expect(await primaryAdmin.call('WAIT', 1, 5000)).toBe(1);

    const oldPrimary = await set.primary();
    const replica = await set.replica();
    await set.signal(replica.port, 'SIGSTOP');
    // A stopped process's socket still takes what the primary sends (the kernel buffers it): cut the
    // replication link too, so the stopped replica cannot get the window's votes.
    await primaryAdmin.call('CLIENT', 'KILL', 'TYPE', 'replica');
    await expect.poll(async () => /connected_slaves:(\d+)/.exec(await primaryAdmin.info('replication'))?.[1], { message: 'the primary without its replica' }).toBe('0');
    const keys = Array.from({ length: 40 }, (_, i) => `lost-${replicas}-${i}`);
    const optionOf = (key: string) => (key.endsWith('0') ? 'dogs' : 'cats');
    const answers = new Map<string, number>();
    for (const key of keys) answers.set(key, (await castVote(stack.url, optionOf(key), key)).status);
    expect(await primaryAdmin.xlen(votes), 'the window\'s votes are on the primary').toBe(1 + keys.length);
    primaryAdmin.disconnect();
    await set.kill(oldPrimary.port, 'SIGKILL');
    await set.signal(replica.port, 'SIGCONT');
    const promoted = await set.waitForFailover(oldPrimary.port);
    expect(promoted.port).toBe(replica.port);
    // The old primary comes back and the Sentinels make it a replica: it drops what only it held.
    await set.start(oldPrimary.port);
    await set.waitHealthy(30_000);

    // A marker vote through the promoted primary, then the consumer: the stream holds what survived.
    await expect.poll(async () => (await castVote(stack.url, 'dogs', `lost-${replicas}-marker`)).status, { message: 'votes accepted on the promoted primary', timeout: 30_000, interval: 200 }).toBe(202);
    await stack.addConsumer();
    await explained(set, stack, async () => {
      try {
        await expect.poll(() => tallyTotal(env.databaseUrl), { message: 'the marker counted', timeout: 30_000 }).toBeGreaterThanOrEqual(2);
      } catch (err) {
        const r = await admin();
        const state = { stream: await r.xrange(votes, '-', '+'), groups: await r.call('XINFO', 'GROUPS', votes), deadLetters: await r.xlen(shardKeys(env.redisPrefix, null)[0]!.deadLetter) };
        throw new Error(`${(err as Error).message}\n${JSON.stringify(state)}`, { cause: err });
      }
    });
    const newPrimaryAdmin = await admin();
    const survived = await newPrimaryAdmin.xlen(votes);
    const counted = await tallyTotal(env.databaseUrl);
    const acknowledged = keys.filter((k) => answers.get(k) === 202);
    const statuses = [...answers.values()].reduce<Record<number, number>>((o, s) => ({ ...o, [s]: (o[s] ?? 0) + 1 }), {});

    // Clients retry what was not answered 202, with the same key, as the voter page does.
    for (const key of keys.filter((k) => answers.get(k) !== 202)) {
      await expect.poll(async () => (await castVote(stack.url, optionOf(key), key)).status, { message: `retry of ${key}`, timeout: 15_000, interval: 100 }).toBe(202);
    }
    const expected = 2 + keys.length - (replicas === 0 ? acknowledged.length : 0);
    await expect.poll(() => tallyTotal(env.databaseUrl), { message: 'the retried votes counted', timeout: 30_000 }).toBeGreaterThanOrEqual(expected);
    const final = await tallyTotal(env.databaseUrl);
    const lost = acknowledged.length - (final - 2 - keys.filter((k) => answers.get(k) !== 202).length);
    figure(`Redis Sentinel lost-write drill, REDIS_ACK_REPLICAS=${replicas}`, { windowVotes: keys.length, windowStatuses: statuses, acknowledged: acknowledged.length, lostAcknowledged: lost, streamEntriesAfterFailover: survived, countedAfterMarker: counted, final });

    // Only the vote before and the marker survived the failover, whatever was answered.
    expect(counted).toBe(2);
    expect(final).toBe(expected);
    if (replicas === 0) {
      // The loss the docs state: every vote acknowledged in the window (202) is gone.
      expect(statuses).toEqual({ 202: keys.length });
      expect(lost).toBe(keys.length);
    } else {
      // None acknowledged, so none lost: each was 504 "outcome unknown", and its retry counts it once.
      expect(statuses).toEqual({ 504: keys.length });
      expect(lost).toBe(0);
    }
  });
}

it('a failover that loses the host\'s "closed" (REDIS_ACK_REPLICAS=0): the servers check the round state against PostgreSQL before taking a vote on the new primary', async () => {
  // The periodic check far away: only the check on the switch to the new primary can save it.
  const { set, stack } = await sentinelStack('sentinel_round_state', { REDIS_ACK_REPLICAS: '0', ROUND_STATE_CHECK_MS: '600000' });
  const host = (method: string, path: string, body?: unknown) =>
    fetch(`${stack.url}${path}`, { method, headers: { authorization: `Bearer ${stack.hostToken}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  expect((await castVote(stack.url, 'cats')).status).toBe(202);
  const oldPrimary = await set.primary();
  const replica = await set.replica();
  let closed = 0;
  // While both are masters, the host closes voting: the change reaches the old primary only.
  await set.promote(replica.port, {
    beforeDemote: async () => {
      closed = (await host('PATCH', '/api/host/round', { voting: 'closed' })).status;
    },
  });
  expect(closed).toBe(200);
  expect((await set.primary()).port).toBe(replica.port);
  expect(oldPrimary.port).not.toBe(replica.port);
  // Every vote after the host was answered "closed": 409, or 503 while the check runs; never 202.
  const statuses = await votesUntilClosed(async () => (await castVote(stack.url, 'dogs')).status, 'votes refused as closed on the new primary');
  figure('Redis Sentinel: the host\'s close lost in a failover, REDIS_ACK_REPLICAS=0', { statuses: countBy(statuses) });
  expect(statuses.filter((s) => s === 202)).toEqual([]);
});
