/**
 * What one adapter run records: metric samples, checks, failed requests and errors, plus the
 * context (init, setup, an iteration of a scenario, teardown) the script is running in.
 */
export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend';
export type Phase = 'init' | 'setup' | 'iteration' | 'teardown' | 'summary';

export interface Sample {
  value: number;
  tags: Record<string, string>;
}

export interface MetricDef {
  name: string;
  type: MetricType;
  isTime: boolean;
  samples: Sample[];
  builtin: boolean;
}

export interface CheckRecord {
  name: string;
  passes: number;
  fails: number;
  where: Set<string>;
}

export interface ScenarioContext {
  name: string;
  executor: string;
  exec: string;
  startTime: number;
}

export const state = {
  phase: 'init' as Phase,
  scenario: null as ScenarioContext | null,
  vu: 0,
  startedAt: Date.now(),
  metrics: new Map<string, MetricDef>(),
  checks: new Map<string, CheckRecord>(),
  /** Requests that counted as failed (http_req_failed) and why. */
  failedRequests: [] as string[],
  /** Errors thrown by setup, an iteration, teardown or handleSummary, and test.fail/abort calls. */
  errors: [] as string[],
  importedModules: new Set<string>(),
};

export function where(): string {
  return state.phase === 'iteration' && state.scenario ? `${state.scenario.name}.${state.scenario.exec}()` : `${state.phase}()`;
}

export function defineMetric(name: string, type: MetricType, isTime: boolean, builtin = false): MetricDef {
  const existing = state.metrics.get(name);
  if (existing) {
    if (existing.type !== type) throw new Error(`metric ${name} already defined as a ${existing.type}`);
    return existing;
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) throw new Error(`invalid metric name "${name}"`);
  const def: MetricDef = { name, type, isTime, samples: [], builtin };
  state.metrics.set(name, def);
  return def;
}

/** Tags k6 puts on every sample in this context. */
export function contextTags(): Record<string, string> {
  const tags: Record<string, string> = {};
  if (state.phase === 'iteration' && state.scenario) tags.scenario = state.scenario.name;
  if (state.phase === 'setup') tags.group = '::setup';
  if (state.phase === 'teardown') tags.group = '::teardown';
  return tags;
}

export function addSample(name: string, value: number, tags: Record<string, string> = {}): void {
  const def = state.metrics.get(name);
  if (!def) throw new Error(`k6 test adapter: sample for unknown metric ${name}`);
  def.samples.push({ value, tags: { ...contextTags(), ...tags } });
}

for (const [name, type, isTime] of [
  ['http_reqs', 'counter', false],
  ['http_req_duration', 'trend', true],
  ['http_req_waiting', 'trend', true],
  ['http_req_receiving', 'trend', true],
  ['http_req_failed', 'rate', false],
  ['checks', 'rate', false],
  ['iterations', 'counter', false],
  ['iteration_duration', 'trend', true],
  ['dropped_iterations', 'counter', false],
  ['data_sent', 'counter', false],
  ['data_received', 'counter', false],
  ['vus', 'gauge', false],
  ['vus_max', 'gauge', false],
] as const) {
  defineMetric(name, type, isTime, true);
}
