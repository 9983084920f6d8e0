/**
 * Checks a script's `options` before anything runs, as k6 does at start: every option must be
 * one the adapter models, every scenario must use a supported executor with that executor's
 * options, every exec function must exist, every duration must parse, every threshold must name
 * a metric that exists and an aggregation k6 offers for it. Anything else is a problem.
 */
import { parseK6Duration } from './k6-duration.ts';
import { state } from './state.ts';
import { parseExpr, parseKey, type Threshold } from './thresholds.ts';

export interface ScriptModule {
  options?: Record<string, unknown>;
  setup?: () => unknown;
  teardown?: (data: unknown) => unknown;
  handleSummary?: (data: unknown) => Record<string, string>;
  [name: string]: unknown;
}

export interface Plan {
  scenarios: Array<{ name: string; exec: string; fn: (data: unknown) => unknown }>;
  thresholds: Threshold[];
  setupTimeoutMs: number;
  teardownTimeoutMs: number;
  notes: string[];
  problems: string[];
}

const OPTIONS = ['scenarios', 'thresholds', 'setupTimeout', 'teardownTimeout'];
const SCENARIO_OPTIONS = ['executor', 'exec', 'gracefulStop'];
/** Each supported executor with all of its own options in k6. */
const EXECUTORS: Record<string, string[]> = {
  'per-vu-iterations': ['vus', 'iterations', 'maxDuration'],
  'ramping-vus': ['startVUs', 'stages', 'gracefulRampDown'],
  'constant-arrival-rate': ['rate', 'timeUnit', 'duration', 'preAllocatedVUs', 'maxVUs'],
  'ramping-arrival-rate': ['startRate', 'timeUnit', 'stages', 'preAllocatedVUs', 'maxVUs'],
};
const DURATIONS = ['maxDuration', 'gracefulStop', 'gracefulRampDown', 'timeUnit', 'duration'];
/** k6 runs `default` as one per-vu-iterations scenario when the options name none. */
const DEFAULT_SCENARIOS = { default: { executor: 'per-vu-iterations', exec: 'default' } };
/** k6 built-in metrics the adapter does not record: a threshold on one is refused, not passed. */
const UNRECORDED_BUILTINS = [
  'vus', 'vus_max', 'data_sent', 'data_received', 'iteration_duration', 'group_duration',
  'http_req_blocked', 'http_req_connecting', 'http_req_tls_handshaking', 'http_req_sending', 'http_req_waiting', 'http_req_receiving',
];

function checkScenario(name: string, sc: Record<string, unknown>, mod: ScriptModule, plan: Plan): void {
  const own = EXECUTORS[String(sc.executor)];
  if (!own) {
    plan.problems.push(`scenario ${name}: executor "${String(sc.executor)}" is not supported (supported: ${Object.keys(EXECUTORS).join(', ')})`);
    return;
  }
  for (const key of Object.keys(sc)) {
    if (!own.includes(key) && !SCENARIO_OPTIONS.includes(key)) plan.problems.push(`scenario ${name}: "${key}" is not an option of ${String(sc.executor)} (${[...SCENARIO_OPTIONS, ...own].join(', ')})`);
  }
  const durations = [...DURATIONS.filter((k) => k in sc).map((k) => [k, sc[k]]), ...((sc.stages as Array<{ duration?: unknown }> | undefined) ?? []).map((s, i) => [`stages[${i}].duration`, s.duration])];
  for (const [key, value] of durations) {
    try {
      parseK6Duration(value, `scenario ${name}: ${String(key)}`);
    } catch (err) {
      plan.problems.push((err as Error).message);
    }
  }
  const exec = typeof sc.exec === 'string' ? sc.exec : 'default';
  const fn = mod[exec];
  if (typeof fn !== 'function') plan.problems.push(`scenario ${name}: exec function "${exec}" is not exported`);
  else plan.scenarios.push({ name, exec, fn: fn as (data: unknown) => unknown });
  if (sc.executor === 'per-vu-iterations') {
    const planned = Number(sc.vus ?? 1) * Number(sc.iterations ?? 1);
    if (planned !== 1) plan.notes.push(`scenario ${name} plans ${planned} iterations in k6; the adapter runs one (size it with -e so that both agree)`);
  }
}

function checkThresholds(thresholds: Record<string, unknown>, plan: Plan): void {
  for (const [key, list] of Object.entries(thresholds)) {
    try {
      const { metric, tags } = parseKey(key);
      const def = state.metrics.get(metric);
      if (!def && UNRECORDED_BUILTINS.includes(metric)) throw new Error(`threshold on "${key}": the adapter does not record k6's ${metric} (it records ${[...state.metrics.keys()].join(', ')})`);
      if (!def) throw new Error(`threshold on "${key}": no metric named ${metric} (custom metrics must be created in the init context)`);
      if (!Array.isArray(list)) throw new Error(`threshold on "${key}": expected a list of expressions`);
      for (const expr of list) {
        if (typeof expr !== 'string') throw new Error(`threshold on "${key}": only string expressions are supported, not ${JSON.stringify(expr)} (no abortOnFail or delayAbortEval)`);
        parseExpr(expr, def.type);
        plan.thresholds.push({ key, expr, def, tags });
      }
    } catch (err) {
      plan.problems.push((err as Error).message);
    }
  }
}

function timeout(options: Record<string, unknown>, key: string, plan: Plan): number {
  try {
    // k6's default for both is 60s.
    return parseK6Duration(options[key] ?? '60s', key);
  } catch (err) {
    plan.problems.push((err as Error).message);
    return 0;
  }
}

export function checkOptions(mod: ScriptModule): Plan {
  const options = mod.options ?? {};
  const plan: Plan = { scenarios: [], thresholds: [], setupTimeoutMs: 0, teardownTimeoutMs: 0, notes: [], problems: [] };
  for (const key of Object.keys(options)) {
    if (!OPTIONS.includes(key)) plan.problems.push(`option "${key}" is not supported (supported: ${OPTIONS.join(', ')})`);
  }
  const scenarios = (options.scenarios ?? DEFAULT_SCENARIOS) as Record<string, Record<string, unknown>>;
  for (const [name, sc] of Object.entries(scenarios)) checkScenario(name, sc, mod, plan);
  checkThresholds((options.thresholds ?? {}) as Record<string, unknown>, plan);
  plan.setupTimeoutMs = timeout(options, 'setupTimeout', plan);
  plan.teardownTimeoutMs = timeout(options, 'teardownTimeout', plan);
  return plan;
}
