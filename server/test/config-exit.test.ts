import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TEST_REDIS_URL, freePort } from '@livevote/harness';
import { loadConfig } from '../src/config.ts';

// Every bad value ends the real server process with exit code 2 and a message naming the
// variable: no stack trace, nothing started.
const SERVER_ENTRY = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const base = { REDIS_URL: TEST_REDIS_URL, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres', REDIS_PREFIX: `t_cfg_${process.pid}:`, LOG_LEVEL: 'silent', HOST_TOKEN: 'config-exit-test-token' };

interface Exit {
  code: number | null;
  stderr: string;
}

/** Runs `node server/src/main.ts` with exactly this environment; a process that starts is killed after 10 s. */
async function runServer(vars: Record<string, string>): Promise<Exit> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', PORT: String(await freePort()), ...base, ...vars };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_ENTRY], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stderr });
    });
  });
}

function expectConfigExit(r: Exit, variable: string): void {
  expect(r.code, `exit code; stderr:\n${r.stderr}`).toBe(2);
  expect(r.stderr).toMatch(new RegExp(`invalid configuration:[\\s\\S]*\\b${variable}: `));
  expect(r.stderr, 'no stack trace').not.toMatch(/^\s+at /m);
}

describe('the server refuses a bad configuration with exit 2, naming the variable, no stack', () => {
  it.each<[string, string]>([
    ['TRUST_PROXY', 'abc'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', '10.0.0.1, 300.1.1.1'],
    ['TRUST_PROXY', 'true'],
    ['PORT', ''],
    ['PORT', ' '],
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['ALLOWED_ORIGINS', '*'],
    ['ALLOWED_ORIGINS', 'example.com'],
    ['ALLOWED_ORIGINS', 'https://a.example/path'],
    ['ALLOWED_ORIGINS', 'https://ok.example, ftp://files.example'],
    ['ALLOWED_ORIGINS', 'https://user@a.example'],
    ['HOST_TOKEN', ''],
    ['HOST_TOKEN', 'fifteen-chars-1'],
    ['HOST_TOKEN', 'sixteen chars ok?'],
    ['HOST_TOKEN', ' leading-space-token'],
    ['OPS_PORT', '70000'],
    ['OPS_HOST', 'localhost'],
    ['OPS_HOST', '0.0.0.0:9464'],
    ['WEB_CONCURRENCY', '0'],
    ['WEB_CONCURRENCY', 'max'],
    ['WEB_CONCURRENCY', '1.5'],
  ])('%s=%j', async (variable, value) => {
    const r = await runServer({ [variable]: value });
    expectConfigExit(r, variable);
    if (variable === 'HOST_TOKEN' && value) expect(r.stderr, 'the token is never printed').not.toContain(value.trim());
  });

  it('OPS_PORT equal to PORT', async () => {
    const port = String(await freePort());
    const r = await runServer({ PORT: port, OPS_PORT: port });
    expectConfigExit(r, 'OPS_PORT');
    expect(r.stderr).toContain(`must differ from PORT (${port})`);
  });

  it('HOST_TOKEN unset', async () => {
    const r = await runServer({ HOST_TOKEN: '' });
    expectConfigExit(r, 'HOST_TOKEN');
    const { HOST_TOKEN: _unset, ...noToken } = base;
    expect(() => loadConfig(noToken)).toThrow(/HOST_TOKEN: required/);
  });

  // Every numeric knob of the server: the defaults that are numbers name them all.
  const numeric = Object.entries(loadConfig(base))
    .filter(([name, v]) => typeof v === 'number' && name !== 'TRUST_PROXY')
    .map(([name]) => name);

  it('knows the numeric variables', () => {
    expect(numeric).toEqual(expect.arrayContaining(['PORT', 'OPS_PORT', 'RATE_LIMIT_VOTES_PER_MIN', 'SSE_TICK_MS', 'SHUTDOWN_GRACE_MS']));
  });

  it.each(numeric)('%s=not-a-number', async (variable) => {
    expectConfigExit(await runServer({ [variable]: 'not-a-number' }), variable);
  });

  // In process (the exit path is the same as above): empty or blank is not a number, and not 0.
  it.each(numeric)('%s="" and " " are refused', (variable) => {
    for (const value of ['', ' ']) expect(() => loadConfig({ ...base, [variable]: value }), JSON.stringify(value)).toThrow(new RegExp(`\\b${variable}: must be a whole number`));
  });
});
