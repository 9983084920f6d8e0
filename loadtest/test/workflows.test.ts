/**
 * The GitHub workflows users run: valid YAML, and the steps loadtest/README.md describes
 * (service containers, npm start with the right environment, wait for /readyz, Grafana's
 * setup and run actions gating on the smoke scenario). A workflow that drifts from the README,
 * or loses the step that makes it gate, fails here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const read = (p: string) => readFileSync(`${repo}/${p}`, 'utf8');

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
  if?: string;
  'continue-on-error'?: unknown;
}
interface Job {
  'runs-on': string;
  services?: Record<string, { image: string; ports?: string[]; env?: Record<string, string>; options?: string }>;
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  jobs: Record<string, Job>;
}

function load(file: string): Workflow {
  const doc = parse(read(`.github/workflows/${file}`), { strict: true, uniqueKeys: true }) as Workflow;
  expect(doc.jobs, `${file} has jobs`).toBeTypeOf('object');
  return doc;
}

function onlyJob(w: Workflow): Job {
  const jobs = Object.values(w.jobs);
  expect(jobs).toHaveLength(1);
  return jobs[0] as Job;
}

const readme = read('loadtest/README.md');

function expectServices(job: Job) {
  expect(job.services?.redis?.image).toMatch(/^redis:\d/);
  expect(job.services?.redis?.ports).toContain('6379:6379');
  expect(job.services?.redis?.options).toContain('--health-cmd');
  expect(job.services?.postgres?.image).toMatch(/^postgres:\d/);
  expect(job.services?.postgres?.ports).toContain('5432:5432');
  expect(job.services?.postgres?.options).toContain('pg_isready');
}

function indexOf(steps: Step[], pred: (s: Step) => boolean, what: string): number {
  const i = steps.findIndex(pred);
  expect(i, `step: ${what}`).toBeGreaterThanOrEqual(0);
  return i;
}

describe('.github/workflows/test.yml', () => {
  const w = load('test.yml');
  const job = onlyJob(w);

  it('runs on pushes and pull requests', () => {
    expect(Object.keys(w.on)).toEqual(expect.arrayContaining(['push', 'pull_request']));
  });

  it('gives npm test Redis and PostgreSQL service containers, and tells the tests where they are', () => {
    expectServices(job);
    const pg = job.services?.postgres?.env ?? {};
    expect(job.env?.TEST_PG_ADMIN_URL).toBe(`postgres://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@127.0.0.1:5432/${pg.POSTGRES_DB}`);
    expect(job.env?.TEST_REDIS_URL).toMatch(/^redis:\/\/127\.0\.0\.1:6379\/\d+$/);
    expect(job.env?.CHROMIUM_PATH).toMatch(/^\/usr\/bin\//);
  });

  it('checks out, sets up Node 24, installs with npm ci, then runs npm test', () => {
    const s = job.steps;
    const checkout = indexOf(s, (x) => x.uses?.startsWith('actions/checkout@') === true, 'checkout');
    const node = indexOf(s, (x) => x.uses?.startsWith('actions/setup-node@') === true, 'setup-node');
    expect(String(s[node]?.with?.['node-version'])).toBe('24');
    const redisBin = indexOf(s, (x) => /apt-get install[^\n]*redis-server/.test(x.run ?? ''), 'redis-server binary');
    expect(s[redisBin]?.run).toContain('policy-rc.d'); // the package must not start a second Redis on 6379
    const ci = indexOf(s, (x) => x.run?.trim() === 'npm ci', 'npm ci');
    const test = indexOf(s, (x) => x.run?.trim() === 'npm test', 'npm test');
    expect(checkout).toBeLessThan(node);
    expect(node).toBeLessThan(ci);
    expect(ci).toBeLessThan(test);
    expect(s[test]?.['continue-on-error']).toBeUndefined();
  });

  it('matches the README', () => {
    for (const v of ['TEST_REDIS_URL', 'TEST_PG_ADMIN_URL', 'CHROMIUM_PATH', 'redis-server', '`npm test`']) expect(readme).toContain(v);
  });
});

describe('.github/workflows/loadtest.yml', () => {
  const w = load('loadtest.yml');
  const job = onlyJob(w);
  const s = job.steps;
  const start = indexOf(s, (x) => /\bnpm start\b/.test(x.run ?? ''), 'start the stack with npm start');
  const wait = indexOf(s, (x) => /\/readyz/.test(x.run ?? ''), 'wait for /readyz');
  const setup = indexOf(s, (x) => x.uses === 'grafana/setup-k6-action@v1', 'grafana/setup-k6-action');
  const run = indexOf(s, (x) => x.uses === 'grafana/run-k6-action@v1', 'grafana/run-k6-action');
  const startEnv = (s[start]?.env ?? {}) as Record<string, string>;
  const pg = job.services?.postgres?.env ?? {};

  it('runs on pushes, pull requests and on demand', () => {
    expect(Object.keys(w.on)).toEqual(expect.arrayContaining(['push', 'pull_request', 'workflow_dispatch']));
  });

  it('starts the stack with npm start on the service containers, rate limiting off', () => {
    expectServices(job);
    expect(s.findIndex((x) => x.run?.trim() === 'npm ci')).toBeLessThan(start);
    expect(startEnv.REDIS_URL).toMatch(/^redis:\/\/127\.0\.0\.1:6379\/\d+$/);
    expect(startEnv.DATABASE_URL).toBe(`postgres://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@127.0.0.1:5432/${pg.POSTGRES_DB}`);
    expect(startEnv.RATE_LIMIT).toBe('off');
    expect(job.env?.BASE_URL).toBe(`http://127.0.0.1:${startEnv.PORT}`);
    // In the background, or the step would never end.
    expect(s[start]?.run).toMatch(/npm start[^\n]*&\s*$/m);
  });

  it('waits for /readyz with a bounded loop before k6 runs', () => {
    expect(s[wait]?.run).toContain('$BASE_URL/readyz');
    expect(s[wait]?.run).toMatch(/for \w+ in \$\(seq 1 \d+\)/);
    expect(s[wait]?.run).toMatch(/exit 1\s*$/);
    expect(start).toBeLessThan(wait);
    expect(wait).toBeLessThan(setup);
    expect(setup).toBeLessThan(run);
  });

  it('runs the smoke scenario with run-k6-action and lets its thresholds fail the job', () => {
    const step = s[run] as Step;
    expect(step.with?.path).toBe('loadtest/smoke.ts');
    expect(existsSync(`${repo}/loadtest/smoke.ts`)).toBe(true);
    expect(step['continue-on-error']).toBeUndefined();
    expect(step.if).toBeUndefined();
    // Flags that would switch the gate off must not be there.
    expect(String(step.with?.flags ?? '')).not.toMatch(/--no-thresholds|--no-teardown|--no-setup/);
    expect(step.with?.['only-verify-scripts']).toBeUndefined();
    expect(step.env?.SUMMARY_DIR).toBe('loadtest/results');
  });

  it('keeps the summaries whatever happened', () => {
    const upload = s.find((x) => x.uses?.startsWith('actions/upload-artifact@'));
    expect(upload?.if).toBe('always()');
    expect(upload?.with?.path).toBe('loadtest/results/');
  });

  it('matches the README, step by step', () => {
    for (const v of ['grafana/setup-k6-action@v1', 'grafana/run-k6-action@v1', 'loadtest/smoke.ts', '`npm ci`', '`npm start`', '/readyz', 'SUMMARY_DIR=loadtest/results']) {
      expect(readme).toContain(v);
    }
    for (const [k, v] of Object.entries(startEnv)) expect(readme, `README names ${k}=${v}`).toContain(`\`${k}=${v}\``);
    expect(readme).toContain(`BASE_URL=${job.env?.BASE_URL}`);
    expect(readme).toContain(String(job.services?.redis?.image));
    expect(readme).toContain(String(job.services?.postgres?.image));
    expect(readme).toContain(`\`${pg.POSTGRES_DB}\``);
  });
});
