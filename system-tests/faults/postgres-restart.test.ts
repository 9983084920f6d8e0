import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { migrate } from '@livevote/consumer/migrate';
import { startEmbeddedPostgres, freePort, startStack, TEST_REDIS_URL } from '@livevote/harness';
import { figure } from './figures.ts';
import { pendingCount, tallyTotal, VotePourer } from './harness.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

it('PostgreSQL stopped immediately and restarted under load: votes keep being accepted, the consumer never exits, all are counted', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lv-fault-pg-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const db = await startEmbeddedPostgres({ dir: path.join(dir, 'data'), port: await freePort(), password: 'fault-test', log: () => {} });
  cleanups.push(() => db.stop());
  const admin = new pg.Client({ connectionString: db.url('postgres') });
  await admin.connect();
  await admin.query('CREATE DATABASE livevote');
  await admin.end();
  await migrate(db.url('livevote'));
  const prefix = `t_pgfault_${process.pid}:`;
  const stack = await startStack({ databaseUrl: db.url('livevote'), redisUrl: TEST_REDIS_URL, redisPrefix: prefix, env: { RATE_LIMIT: 'off' } });
  cleanups.push(() => stack.stop());

  const pour = new VotePourer(stack.url, 16);
  pour.start();
  await expect.poll(() => tallyTotal(db.url('livevote')), { message: 'votes counted before the stop', timeout: 15_000 }).toBeGreaterThanOrEqual(500);
  await db.crash();
  const acceptedAtStop = pour.accepted.size;
  await expect.poll(() => pour.accepted.size, { message: '1,000 votes accepted while PostgreSQL is down', timeout: 60_000 }).toBeGreaterThanOrEqual(acceptedAtStop + 1000);
  const readyWhileDown = (await fetch(`${stack.url}/readyz`)).status;
  await db.start();
  await pour.finish();
  const accepted = pour.accepted.size;
  try {
    await expect.poll(() => tallyTotal(db.url('livevote')), { message: 'all counted after recovery', timeout: 60_000 }).toBeGreaterThanOrEqual(accepted);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nconsumer output:\n${stack.consumers[0]!.output().slice(-3000)}`);
  }
  await expect.poll(() => pendingCount(TEST_REDIS_URL, prefix), { message: 'nothing pending', timeout: 15_000 }).toBe(0);
  const counted = await tallyTotal(db.url('livevote'));
  const statuses = Object.fromEntries(pour.statuses);
  figure('PostgreSQL immediate stop and restart', { votes2xx: accepted, acceptedWhileDown: accepted - acceptedAtStop, counted, consumerExits: stack.consumers[0]!.exits.length, readyWhileDown, statuses });
  expect(counted).toBe(accepted);
  expect(stack.consumers[0]!.running).toBe(true);
  expect(stack.consumers[0]!.exits).toEqual([]);
  expect(Object.keys(statuses)).toEqual(['202']);
  // Ready means "can take votes" (DESIGN.md): PostgreSQL being away degrades results, not voting.
  expect(readyWhileDown).toBe(200);
});
