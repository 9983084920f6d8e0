import { availableParallelism } from 'node:os';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, expect, it, vi } from 'vitest';
import { castVote, freePort, results } from '@livevote/harness';

const entry = fileURLToPath(new URL('../launcher/src/start.ts', import.meta.url));
const dataDir = mkdtempSync(path.join(tmpdir(), 'lv-start-'));
let proc: ChildProcess | undefined;
afterAll(async () => {
  if (proc && proc.exitCode === null) {
    proc.kill('SIGINT');
    await new Promise((r) => proc!.once('exit', r));
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** `npm start` as a newcomer runs it: no REDIS_URL, no DATABASE_URL, nothing configured. */
async function start(port: number, opsPort: number): Promise<{ out: () => string; exit: Promise<number | null> }> {
  // OPS_PORT only so that this test never takes the 9464 of a stack someone else runs here.
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), OPS_PORT: String(opsPort), LIVEVOTE_DATA_DIR: dataDir, CLIENT_DIR: '', LOG_LEVEL: 'warn', OPS_HOST: '0.0.0.0' };
  delete env.REDIS_URL;
  delete env.DATABASE_URL;
  delete env.HOST_TOKEN;
  proc = spawn(process.execPath, [entry], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((r) => proc!.once('exit', (code) => r(code)));
  await vi.waitFor(() => expect(out.includes('live vote is up') || proc!.exitCode !== null, 'npm start to come up').toBe(true), { timeout: 90_000, interval: 50 });
  if (!out.includes('live vote is up')) throw new Error(`npm start failed:\n${out}`);
  return { out: () => out, exit };
}

it('starts the whole stack with no configuration, counts a vote, runs every service with least privilege, and keeps votes across a restart', async () => {
  const port = await freePort();
  const opsPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const first = await start(port, opsPort);
  expect(first.out()).toMatch(/embedded PostgreSQL on 127\.0\.0\.1:\d+/);
  expect(first.out()).toMatch(/private redis-server on 127\.0\.0\.1:\d+ \(AOF, appendfsync always/);
  expect(await results(url)).toMatchObject({ total: 0 });
  expect((await castVote(url, 'cats', 'start-test-vote-1')).status).toBe(202);
  await expect.poll(async () => (await results(url)).total, { message: 'the vote counted', timeout: 15_000 }).toBe(1);

  // The metrics are on the ops port, on loopback even though the caller's OPS_HOST said otherwise.
  expect(first.out()).toContain(`metrics (this machine only): http://127.0.0.1:${opsPort}/metrics`);
  expect((await fetch(`${url}/metrics`)).status).toBe(404);
  expect(await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text()).toMatch(/^livevote_votes_accepted_total\{option="cats"\} 1$/m);
  await expect(fetch(`http://127.0.0.2:${opsPort}/metrics`)).rejects.toThrow();

  // The services' own credentials: each can do its job and nothing more.
  const creds = JSON.parse(readFileSync(path.join(dataDir, 'credentials.json'), 'utf8')) as Record<string, string>;
  const redisPort = Number(/private redis-server on 127\.0\.0\.1:(\d+)/.exec(first.out())![1]);
  const pgPort = Number(/embedded PostgreSQL on 127\.0\.0\.1:(\d+)/.exec(first.out())![1]);
  const server = new Redis({ port: redisPort, username: 'server', password: creds.redisServer, maxRetriesPerRequest: 0 });
  await expect(server.flushall()).rejects.toThrow(/NOPERM/);
  await expect(server.call('XREADGROUP', 'GROUP', 'tally-writers', 'x', 'STREAMS', 'lv:votes', '>')).rejects.toThrow(/NOPERM/);
  server.disconnect();
  // Every core gets a server process (WEB_CONCURRENCY=auto); each reports its streams by itself.
  const admin = new Redis({ port: redisPort, username: 'admin', password: creds.redisAdmin, maxRetriesPerRequest: 0 });
  await expect.poll(async () => Object.keys(await admin.hgetall('lv:watchers')).length, { message: 'a server process per core', timeout: 10_000 }).toBe(Math.min(64, availableParallelism()));
  admin.disconnect();
  // No password, no access: the default user is off.
  const anonymous = spawnSync('redis-cli', ['-p', String(redisPort), 'GET', 'lv:votes'], { encoding: 'utf8' });
  expect(anonymous.stdout + anonymous.stderr).toMatch(/NOAUTH/);
  const asServer = new pg.Client({ connectionString: `postgres://livevote_server:${encodeURIComponent(creds.pgServer!)}@127.0.0.1:${pgPort}/livevote` });
  await asServer.connect();
  expect((await asServer.query('SELECT cats FROM current_round')).rows[0]).toEqual({ cats: '1' });
  await expect(asServer.query('UPDATE round_tallies SET cats = cats + 1')).rejects.toThrow(/permission denied/);
  await expect(asServer.query('DELETE FROM applied_votes')).rejects.toThrow(/permission denied/);
  await expect(asServer.query('DELETE FROM host_session_epoch')).rejects.toThrow(/permission denied/);
  await asServer.end();
  const asConsumer = new pg.Client({ connectionString: `postgres://livevote_consumer:${encodeURIComponent(creds.pgConsumer!)}@127.0.0.1:${pgPort}/livevote` });
  await asConsumer.connect();
  await expect(asConsumer.query('DROP TABLE applied_votes')).rejects.toThrow(/must be owner|permission denied/);
  await expect(asConsumer.query('CREATE TABLE x (id int)')).rejects.toThrow(/permission denied/);
  await asConsumer.end();

  // The host link: a generated token in .data/credentials.json, printed in the link's fragment.
  expect(creds.hostToken).toMatch(/^[A-Za-z0-9_-]{24}$/);
  const link = /host controls: (\S+)/.exec(first.out())?.[1];
  expect(link).toBe(`${url}/host#token=${creds.hostToken}`);
  const asHost = await fetch(`${url}/api/host/round`, { headers: { authorization: `Bearer ${creds.hostToken}` } });
  expect(asHost.status).toBe(200);
  expect((await fetch(`${url}/api/host/round`)).status).toBe(401);
  // Sign out everywhere as the server's own role: the migration's grant covers moving the epoch.
  expect((await fetch(`${url}/api/host/sessions`, { method: 'DELETE', headers: { authorization: `Bearer ${creds.hostToken}` } })).status).toBe(204);

  // Ctrl-C stops everything cleanly; the next start finds the vote again, with the same host token.
  proc!.kill('SIGINT');
  expect(await first.exit).toBe(0);
  const second = await start(port, opsPort);
  expect(second.out()).toContain('migrations up to date');
  expect(second.out()).toContain(`host#token=${creds.hostToken}`);
  expect(await results(url)).toMatchObject({ cats: 1, total: 1 });
});
