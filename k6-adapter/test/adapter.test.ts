/**
 * The k6 test adapter must fail loudly when a script or the system is wrong, or `npm run
 * loadtest:check` would prove nothing. These tests run the real scripts through the adapter
 * against a fake stack with faults switched on, in a child process as loadtest:check does.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startFakeStack, type Fault, type FakeStack } from './fake-stack.ts';

/** The real scripts, run from their own folder as loadtest:check runs them. */
const loadtestDir = dirname(createRequire(import.meta.url).resolve('@livevote/loadtest/package.json'));
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const summaryDir = mkdtempSync(join(tmpdir(), 'k6-adapter-test-'));
afterAll(() => rmSync(summaryDir, { recursive: true, force: true }));

let stack: FakeStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** Runs one script through the adapter; the fake stack keeps serving meanwhile (async spawn). */
function runScript(script: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const args = [cli, script, '-e', `SUMMARY_DIR=${summaryDir}`];
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: loadtestDir });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('close', (code) => resolve({ code, out }));
  });
}

async function smoke(fault: Fault, extra: Record<string, string> = {}) {
  stack = await startFakeStack(fault);
  return runScript('smoke.ts', { BASE_URL: stack.url, VUS: '1', VOTES: '1', DURATION: '0s', COUNT_TIMEOUT: '2s', ...extra });
}

describe('k6 test adapter', () => {
  it('passes the smoke script against a stack that counts every vote once', async () => {
    const { code, out } = await smoke('none');
    expect(out).toContain('PASS smoke.ts');
    expect(out).toMatch(/ok {4}exactly-once: tallies rose by exactly the votes taken: 1 passed/);
    expect(code).toBe(0);
  });

  it('passes the smoke script when vote status comes from a replica that lags (it waits, it does not read once)', async () => {
    const { code, out } = await smoke('lagging-status');
    expect(out).toContain('PASS smoke.ts');
    expect(code).toBe(0);
  });

  it('fails the smoke teardown when a vote is counted twice', async () => {
    const { code, out } = await smoke('double-count');
    expect(code).toBe(1);
    expect(out).toContain('teardown(data) threw');
    expect(out).toMatch(/exactly-once: tallies rose by \{"cats":2,"dogs":0,"total":2\}, expected \{"cats":1,"dogs":0,"total":1\}/);
  });

  it('fails the smoke teardown, within its deadline, when votes are lost', async () => {
    const started = Date.now();
    const { code, out } = await smoke('lose-votes');
    expect(code).toBe(1);
    expect(out).toMatch(/exactly-once: after 2000 ms the tallies rose by \{"cats":0,"dogs":0,"total":0\}/);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('fails when the vote route answers 404: failed request, failed checks, count threshold', async () => {
    const { code, out } = await smoke('no-vote-route', { COUNT_TIMEOUT: '0s' });
    expect(code).toBe(1);
    expect(out).toMatch(/request failed: smoke\.default\(\): POST .*\/api\/vote \[POST \/api\/vote\] -> status 404 \(expected 202\)/);
    expect(out).toContain('check failed: vote: 202 Accepted');
    expect(out).toMatch(/threshold votes_accepted: count==1 failed/);
  });

  it('stops at setup when BASE_URL does not answer, as k6 does', async () => {
    stack = await startFakeStack();
    const url = stack.url;
    await stack.close();
    stack = undefined;
    const { code, out } = await runScript('smoke.ts', { BASE_URL: url, VUS: '1', VOTES: '1', DURATION: '0s' });
    expect(code).toBe(1);
    expect(out).toMatch(/setup\(\) threw: Error: http:\/\/127\.0\.0\.1:\d+ is not ready: GET \/readyz answered 0/);
    expect(out).toContain('skip  iterations and teardown');
  });

  it('rejects a bad __ENV value in the init context', async () => {
    stack = await startFakeStack();
    const { code, out } = await runScript('spike.ts', { BASE_URL: stack.url, PEAK_RATE: 'lots' });
    expect(code).toBe(1);
    expect(out).toContain('PEAK_RATE must be an integer');
  });

  it('runs the watchers script over SSE: own vote shows up on the screen', async () => {
    stack = await startFakeStack('none');
    const { code, out } = await runScript('watchers.ts', { BASE_URL: stack.url, HOLD: '0s', FRAME_WAIT: '2s', DRAIN_TIMEOUT: '5s' });
    expect(out).toMatch(/ok {4}vote_to_screen: p\(95\)<500 {2}\(got [\d.]+ from 1 sample\(s\)\)/);
    expect(out).toContain('PASS watchers.ts');
    expect(code).toBe(0);
  });

  it('fails the watchers script when the stream never shows the vote', async () => {
    stack = await startFakeStack('frozen-stream');
    const { code, out } = await runScript('watchers.ts', { BASE_URL: stack.url, HOLD: '0s', FRAME_WAIT: '1s', DRAIN_TIMEOUT: '5s' });
    expect(code).toBe(1);
    expect(out).toMatch(/threshold vote_never_shown: count==0 failed/);
  });

  it('passes spike and soak against a healthy stack', async () => {
    stack = await startFakeStack('none');
    for (const script of ['spike.ts', 'soak.ts']) {
      const { code, out } = await runScript(script, { BASE_URL: stack.url, DRAIN_TIMEOUT: '5s' });
      expect(out).toContain(`PASS ${script}`);
      expect(code).toBe(0);
    }
  });

  it('refuses a threshold on a metric that does not exist', async () => {
    stack = await startFakeStack();
    const { code, out } = await runScript(fixture('threshold-typo.js'), { BASE_URL: stack.url });
    expect(code).toBe(1);
    expect(out).toContain('FAIL options: threshold on "vote_latncy": no metric named vote_latncy');
  });

  it('refuses a k6 module it does not provide instead of passing silently', async () => {
    stack = await startFakeStack();
    const { code, out } = await runScript(fixture('unsupported-module.js'), { BASE_URL: stack.url });
    expect(code).toBe(1);
    expect(out).toContain('the script imports k6/ws, which the adapter does not provide');
  });

  it('refuses options, executors and thresholds it does not model, all at once', async () => {
    stack = await startFakeStack();
    const { code, out } = await runScript(fixture('unsupported-options.js'), { BASE_URL: stack.url });
    expect(code).toBe(1);
    expect(out).toContain('FAIL options: option "vus" is not supported (supported: scenarios, thresholds, setupTimeout, teardownTimeout)');
    expect(out).toContain('FAIL options: scenario steady: executor "constant-vus" is not supported');
    expect(out).toContain('FAIL options: scenario typo: "iteration" is not an option of per-vu-iterations');
    expect(out).toContain('FAIL options: threshold on "http_req_waiting": the adapter does not record k6\'s http_req_waiting');
    expect(out).toContain('FAIL options: threshold on "checks": only string expressions are supported');
    expect(out).not.toContain('lifecycle:');
  });

  it('refuses a part of a provided module that it does not provide', async () => {
    stack = await startFakeStack();
    const api = await runScript(fixture('unsupported-api.js'), { BASE_URL: stack.url });
    expect(api.code).toBe(1);
    expect(api.out).toContain('k6 test adapter: Response.json is not supported (supported: status, body, headers, timings, error)');
    const named = await runScript(fixture('unsupported-import.js'), { BASE_URL: stack.url });
    expect(named.code).toBe(1);
    expect(named.out).toContain("FAIL init: k6 test adapter: k6's group is not supported (k6 provides check, fail, sleep)");
  });

  it('fails on a check that is wrong about the API', async () => {
    stack = await startFakeStack();
    const { code, out } = await runScript(fixture('wrong-check.js'), { BASE_URL: stack.url });
    expect(code).toBe(1);
    expect(out).toContain('check failed: results name a winner');
  });
});
