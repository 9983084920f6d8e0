/**
 * k6 TEST ADAPTER, not a load tool: runs one k6 script's lifecycle once, in Node, against a live
 * stack, to prove the script is right (routes, payloads, checks, teardown assertions):
 *
 *   init (imports, options) -> setup() -> one iteration of each scenario's exec function
 *   -> teardown(data) -> handleSummary(data)
 *
 * and exits non-zero, listing why, when any check failed, any request counted in
 * http_req_failed, any lifecycle function threw, an option or threshold is invalid, or a
 * count/rate threshold fails. Trend thresholds (latencies) are evaluated and shown, but one
 * sample says nothing about a p95, so they do not decide the verdict here: real k6 runs do.
 *
 *   node test/k6-adapter/run.ts smoke.ts -e VOTES=1 -e VUS=1
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { installHooks } from './hooks.ts';
import { state, type MetricDef, type ScenarioContext } from './state.ts';
import { aggregate, compare, matching, parseExpr, parseKey, summarize } from './thresholds.ts';

interface Scenario {
  executor?: string;
  exec?: string;
  [key: string]: unknown;
}

interface ScriptModule {
  options?: { scenarios?: Record<string, Scenario>; thresholds?: Record<string, Array<string | { threshold: string }>> };
  setup?: () => unknown;
  teardown?: (data: unknown) => unknown;
  handleSummary?: (data: unknown) => Record<string, string | ArrayBuffer>;
  default?: (data: unknown) => unknown;
  [name: string]: unknown;
}

const EXECUTORS = new Set([
  'shared-iterations',
  'per-vu-iterations',
  'constant-vus',
  'ramping-vus',
  'constant-arrival-rate',
  'ramping-arrival-rate',
  'externally-controlled',
]);

function parseArgs(argv: string[]): { script: string; env: Record<string, string> } {
  const env: Record<string, string> = {};
  let script: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-e' || a === '--env') {
      const kv = argv[++i] ?? '';
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new Error(`-e needs NAME=value, got "${kv}"`);
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (!script) script = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!script) throw new Error('usage: run.ts <script.ts> [-e NAME=value]...');
  return { script, env };
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message).split('\n').slice(0, 4).join('\n    ') : String(err);
}

async function main(): Promise<number> {
  const { script, env } = parseArgs(process.argv.slice(2));
  const scriptPath = resolve(script);
  const g = globalThis as Record<string, unknown>;
  // k6 puts the system environment and every -e into __ENV.
  g.__ENV = { ...process.env, ...env };
  g.__VU = 0;
  g.__ITER = 0;
  installHooks();

  const problems: string[] = [];
  state.phase = 'init';
  let mod: ScriptModule;
  try {
    mod = (await import(pathToFileURL(scriptPath).href)) as ScriptModule;
  } catch (err) {
    console.error(`FAIL init: ${describe(err)}`);
    return 1;
  }
  const options = mod.options ?? {};
  g.__k6AdapterOptions = options;

  // Scenarios: what k6 would run, and with which function.
  const scenarios: Array<[string, Scenario]> = options.scenarios ? Object.entries(options.scenarios) : [['default', { executor: 'per-vu-iterations', exec: 'default' }]];
  for (const [name, sc] of scenarios) {
    if (!sc.executor || !EXECUTORS.has(sc.executor)) problems.push(`scenario ${name}: unknown executor "${sc.executor}"`);
    const fn = mod[sc.exec ?? 'default'];
    const planned =
      sc.executor === 'per-vu-iterations' ? Number(sc.vus ?? 1) * Number(sc.iterations ?? 1) : sc.executor === 'shared-iterations' ? Number(sc.iterations ?? 1) : undefined;
    if (planned !== undefined && planned !== 1) {
      console.log(`note: scenario ${name} plans ${planned} iterations in k6; the adapter runs one (size it with -e so that both agree)`);
    }
    if (typeof fn !== 'function') problems.push(`scenario ${name}: exec function "${sc.exec ?? 'default'}" is not exported`);
  }

  // Thresholds: metric names must exist (k6 refuses unknown ones), expressions must parse.
  const thresholds: Array<{ key: string; expr: string; def: MetricDef; tags: Record<string, string> }> = [];
  for (const [key, list] of Object.entries(options.thresholds ?? {})) {
    try {
      const { metric, tags } = parseKey(key);
      const def = state.metrics.get(metric);
      if (!def) throw new Error(`threshold on "${key}": no metric named ${metric} (custom metrics must be created in the init context)`);
      for (const item of list) {
        const expr = typeof item === 'string' ? item : item.threshold;
        parseExpr(expr, def.type);
        thresholds.push({ key, expr, def, tags });
      }
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (problems.length) {
    for (const p of problems) console.error(`FAIL options: ${p}`);
    return 1;
  }

  const lifecycle: string[] = [];
  const run = (label: string, fn: () => unknown): unknown => {
    const t0 = Date.now();
    try {
      const out = fn();
      if (out instanceof Promise) throw new Error(`${label} returned a Promise; the adapter runs synchronous k6 code only`);
      lifecycle.push(`ok    ${label} (${Date.now() - t0} ms)`);
      return out;
    } catch (err) {
      state.errors.push(`${label} threw: ${describe(err)}`);
      lifecycle.push(`FAIL  ${label} (${Date.now() - t0} ms)`);
      return undefined;
    }
  };

  state.startedAt = Date.now();
  let data: unknown;
  if (typeof mod.setup === 'function') {
    state.phase = 'setup';
    const setup = mod.setup;
    const out = run('setup()', () => setup());
    // k6 hands setup's result to every VU as JSON.
    data = out === undefined ? undefined : JSON.parse(JSON.stringify(out));
  }
  const setupOk = !state.errors.length;

  if (setupOk) {
    for (const [name, sc] of scenarios) {
      const execName = sc.exec ?? 'default';
      const fn = mod[execName] as (d: unknown) => unknown;
      state.phase = 'iteration';
      const ctx: ScenarioContext = { name, executor: sc.executor ?? 'per-vu-iterations', exec: execName, startTime: Date.now() - state.startedAt };
      state.scenario = ctx;
      g.__VU = 1;
      g.__ITER = 0;
      const t0 = Date.now();
      run(`${name}: one iteration of ${execName}()`, () => fn(data));
      const tags = { scenario: name };
      (state.metrics.get('iterations') as MetricDef).samples.push({ value: 1, tags });
      (state.metrics.get('iteration_duration') as MetricDef).samples.push({ value: Date.now() - t0, tags });
      state.scenario = null;
      g.__VU = 0;
    }
    if (typeof mod.teardown === 'function') {
      state.phase = 'teardown';
      const teardown = mod.teardown;
      run('teardown(data)', () => teardown(data));
    }
  } else {
    lifecycle.push('skip  iterations and teardown: setup() failed (k6 stops the run there too)');
  }
  const seconds = (Date.now() - state.startedAt) / 1000;

  // Thresholds over what this one-iteration run recorded.
  const thresholdLines: string[] = [];
  const okByKey = new Map<string, Record<string, { ok: boolean }>>();
  for (const t of thresholds) {
    const { aggregation, op, value } = parseExpr(t.expr, t.def.type);
    const samples = matching(t.def.samples, t.tags);
    const actual = aggregate(t.def, samples, aggregation, seconds);
    const noData = samples.length === 0 && t.def.type !== 'counter';
    const ok = noData || compare(t.def.type === 'counter' && samples.length === 0 ? 0 : actual, op, value);
    const decides = t.def.type !== 'trend' && !noData;
    const verdict = noData ? 'n/a ' : ok ? 'ok  ' : decides ? 'FAIL' : 'info';
    thresholdLines.push(`${verdict}  ${t.key}: ${t.expr}  (got ${noData ? 'no samples' : `${Number.isNaN(actual) ? 'NaN' : +actual.toFixed(3)} from ${samples.length} sample(s)`})`);
    if (!ok && decides) state.errors.push(`threshold ${t.key}: ${t.expr} failed (got ${actual})`);
    okByKey.set(t.key, { ...(okByKey.get(t.key) ?? {}), [t.expr]: { ok } });
  }

  // handleSummary with k6-shaped data, so the summary code is exercised too.
  if (typeof mod.handleSummary === 'function') {
    const metrics: Record<string, unknown> = {};
    for (const def of state.metrics.values()) {
      if (def.samples.length === 0 && !okByKey.has(def.name)) continue;
      metrics[def.name] = { type: def.type, contains: def.isTime ? 'time' : 'default', values: summarize(def, def.samples, seconds), ...(okByKey.has(def.name) ? { thresholds: okByKey.get(def.name) } : {}) };
    }
    for (const t of thresholds) {
      if (Object.keys(t.tags).length === 0) continue;
      metrics[t.key] = { type: t.def.type, contains: t.def.isTime ? 'time' : 'default', values: summarize(t.def, matching(t.def.samples, t.tags), seconds), thresholds: okByKey.get(t.key) };
    }
    const summaryData = {
      metrics,
      root_group: { name: '', path: '', id: 'd41d8cd98f00b204e9800998ecf8427e', groups: [], checks: [...state.checks.values()].map((c) => ({ name: c.name, path: `::${c.name}`, id: c.name, passes: c.passes, fails: c.fails })) },
      options: { summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'], summaryTimeUnit: '', noColor: true },
      state: { isStdOutTTY: false, isStdErrTTY: false, testRunDurationMs: seconds * 1000 },
      setup_data: data,
    };
    state.phase = 'summary';
    const handleSummary = mod.handleSummary;
    const out = run('handleSummary(data)', () => handleSummary(summaryData)) as Record<string, string> | undefined;
    for (const [target, content] of Object.entries(out ?? {})) {
      if (target === 'stdout' || target === 'stderr') continue; // shown below in the adapter's own report
      const path = resolve(target);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
      lifecycle.push(`      handleSummary wrote ${target}`);
    }
  }

  const checks = [...state.checks.values()];
  const failedChecks = checks.filter((c) => c.fails > 0);
  console.log(`\nk6 test adapter report for ${script} (one iteration per scenario, against ${String((g.__ENV as Record<string, string>).BASE_URL ?? '(BASE_URL unset)')})`);
  console.log('lifecycle:');
  for (const l of lifecycle) console.log(`  ${l}`);
  console.log(`checks (${checks.length}):`);
  for (const c of checks) console.log(`  ${c.fails ? 'FAIL' : 'ok  '}  ${c.name}: ${c.passes} passed, ${c.fails} failed  [${[...c.where].join(', ')}]`);
  const reqs = state.metrics.get('http_reqs')?.samples.length ?? 0;
  console.log(`requests: ${reqs}, counted as failed: ${state.failedRequests.length}`);
  for (const f of state.failedRequests) console.log(`  FAIL  ${f}`);
  console.log('thresholds (count/rate decide; one-sample latencies are informational):');
  for (const l of thresholdLines) console.log(`  ${l}`);
  const reasons = [
    ...state.errors,
    ...failedChecks.map((c) => `check failed: ${c.name}`),
    ...state.failedRequests.map((f) => `request failed: ${f}`),
  ];
  if (checks.length === 0) reasons.push('no check ran: a script run that checks nothing proves nothing');
  if (reasons.length) {
    console.log(`\nFAIL ${script}:`);
    for (const r of reasons) console.log(`  - ${r}`);
    return 1;
  }
  console.log(`\nPASS ${script}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`k6 test adapter crashed: ${describe(err)}`);
    process.exit(2);
  },
);
