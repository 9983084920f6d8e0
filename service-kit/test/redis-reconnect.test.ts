import { pollUntil, startSentinelSet, TEST_REDIS_URL, type SentinelSet } from '@livevote/harness';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../src/redis.ts';
import type { RedisTarget } from '../src/redis-target.ts';

// ioredis ends a client for good (status "end", every command "Connection is closed.") when it is
// told to reconnect while it is still connecting: what its failover detector does on a
// +switch-master that arrives while a Sentinel is being asked for the primary. A nemesis run
// (seed 20261207) left a consumer that way: paused through a failover, resumed into both.
async function comesBack(target: RedisTarget): Promise<void> {
  const client = createRedis({ role: 'worker', name: 'reconnect-test', logger: pino({ level: 'silent' }), target });
  const ready = async () => {
    if (client.status !== 'ready') throw new Error(`status ${client.status}`);
  };
  try {
    await pollUntil('the client to be ready', 10_000, ready);
    client.disconnect(true);
    await new Promise<void>((resolve) => client.once('connecting', () => resolve()));
    client.disconnect(true);
    await pollUntil('the client to be ready again', 10_000, ready);
    expect(await client.ping()).toBe('PONG');
  } finally {
    client.disconnect();
  }
}

describe('a client told to reconnect while it is connecting still comes back', () => {
  let set: SentinelSet;
  beforeAll(async () => {
    set = await startSentinelSet();
  }, 60_000);
  afterAll(() => set?.stopAll());

  it('Sentinel, while it asks a Sentinel for the primary', () => comesBack({ mode: 'sentinel', sentinels: set.sentinelNodes, name: set.name }));

  it('and a client closed by its caller stays closed', async () => {
    const client = createRedis({ role: 'worker', name: 'reconnect-test', logger: pino({ level: 'silent' }), url: TEST_REDIS_URL });
    await pollUntil('the client to be ready', 10_000, async () => {
      if (client.status !== 'ready') throw new Error(`status ${client.status}`);
    });
    let reconnected = false;
    client.on('connecting', () => (reconnected = true));
    await client.quit();
    // Absence takes a wait: five times the longest first backoff (100 ms).
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(reconnected).toBe(false);
    expect(client.status).toBe('end');
  });
});
