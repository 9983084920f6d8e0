import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { migrate } from '@livevote/consumer/migrate';
import { startEmbeddedPostgres, freePort, startStack, TEST_REDIS_URL, waitFor } from '@livevote/harness';
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
  await waitFor(async () => (await tallyTotal(db.url('livevote'))) >= 500, { what: 'votes counted before the stop' });
  await db.crash();
  const acceptedAtStop = pour.accepted.size;
  await waitFor(() => pour.accepted.size >= acceptedAtStop + 1000, { what: '1,000 votes accepted while PostgreSQL is down', timeoutMs: 60_000 });
  const readyWhileDown = (await fetch(`${stack.url}/readyz`)).status;
  await db.start();
  await pour.finish();
  const accepted = pour.accepted.size;
  await waitFor(async () => (await tallyTotal(db.url('livevote'))) >= accepted, { what: 'all counted after recovery', timeoutMs: 60_000 }).catch((err: Error) => {
    throw new Error(`${err.message}\nconsumer output:\n${stack.consumers[0]!.output().slice(-3000)}`);
  });
  await waitFor(async () => (await pendingCount(TEST_REDIS_URL, prefix)) === 0, { what: 'nothing pending' });
  const counted = await tallyTotal(db.url('livevote'));
  const statuses = Object.fromEntries(pour.statuses);
  figure('PostgreSQL immediate stop and restart', { votes2xx: accepted, acceptedWhileDown: accepted - acceptedAtStop, counted, consumerExits: stack.consumers[0]!.exits.length, readyWhileDown, statuses });
  expect(counted).toBe(accepted);
  expect(stack.consumers[0]!.running).toBe(true);
  expect(stack.consumers[0]!.exits).toEqual([]);
  expect(Object.keys(statuses)).toEqual(['202']);
  expect(readyWhileDown).toBe(503);
});
