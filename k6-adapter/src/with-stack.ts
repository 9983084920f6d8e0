/**
 * `npm run loadtest:check:with-stack`: for CI and fresh clones. Starts the stack with the
 * repository's own `npm start` on a free port (API only, rate limiting off), waits for /readyz
 * with a deadline, runs `npm run loadtest:check` in the current folder against it, and stops
 * the stack it started. REDIS_URL / DATABASE_URL / REDIS_PREFIX are passed through when set;
 * when not, `npm start` brings its own redis-server and embedded PostgreSQL. The stack runs with
 * this run's HOST_TOKEN (the one given, or a new one), which the scripts get too (rounds.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort } from '@livevote/harness';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const READY_TIMEOUT_MS = Number(process.env.STACK_READY_TIMEOUT_MS ?? 180_000);

const port = Number(process.env.LOADTEST_PORT ?? (await freePort()));
const baseUrl = `http://127.0.0.1:${port}`;
const hostToken = process.env.HOST_TOKEN || randomBytes(24).toString('base64url');
let log = '';
const stack = spawn('npm', ['start'], {
  cwd: repo,
  detached: true, // its own process group, so stopping it stops npm, node and the services
  // A free ops port as well: npm start's default 9464 may be another stack's on this machine.
  env: { ...process.env, PORT: String(port), OPS_PORT: process.env.OPS_PORT ?? String(await freePort()), HOST_TOKEN: hostToken, RATE_LIMIT: 'off', CLIENT_DIR: '', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let exited: number | null | undefined;
stack.on('exit', (code) => (exited = code));
stack.stdout.on('data', (c) => (log += c));
stack.stderr.on('data', (c) => (log += c));

async function stop(): Promise<void> {
  if (exited !== undefined || stack.pid === undefined) return;
  const gone = new Promise<void>((resolve) => stack.once('exit', () => resolve()));
  process.kill(-stack.pid, 'SIGINT');
  const timer = setTimeout(() => {
    if (exited === undefined && stack.pid !== undefined) process.kill(-stack.pid, 'SIGKILL');
  }, 15_000);
  await gone;
  clearTimeout(timer);
}

async function ready(): Promise<boolean> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== undefined) return false;
    try {
      const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

let code = 1;
try {
  console.log(`loadtest: starting the stack with npm start on ${baseUrl} ...`);
  if (!(await ready())) {
    console.error(`loadtest: the stack did not become ready within ${READY_TIMEOUT_MS} ms (exit ${exited}). Its output:\n${log}`);
  } else {
    const r = spawnSync('npm', ['run', 'loadtest:check'], { stdio: 'inherit', env: { ...process.env, BASE_URL: baseUrl, HOST_TOKEN: hostToken } });
    code = r.status ?? 1;
    if (code !== 0) console.error(`loadtest: the stack's output:\n${log.slice(-8000)}`);
  }
} finally {
  await stop();
}
process.exit(code);
