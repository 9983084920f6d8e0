/**
 * What one adapter run records: metric samples, checks, failed requests and errors, plus the
 * context (init, setup, the iteration of a scenario, teardown, summary) the script is in.
 */
export type MetricType = 'counter' | 'rate' | 'trend';
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
}

export interface CheckRecord {
  name: string;
  passes: number;
  fails: number;
  where: Set<string>;
}

export interface ScenarioContext {
  name: string;
  exec: string;
}

export const state = {
  phase: 'init' as Phase,
  scenario: null as ScenarioContext | null,
  startedAt: Date.now(),
  metrics: new Map<string, MetricDef>(),
  checks: new Map<string, CheckRecord>(),
  /** Requests that counted as failed (http_req_failed) and why. */
  failedRequests: [] as string[],
  /** Errors thrown by setup, the iteration, teardown or handleSummary, and broken streams. */
  errors: [] as string[],
};

export function where(): string {
  return state.phase === 'iteration' && state.scenario ? `${state.scenario.name}.${state.scenario.exec}()` : `${state.phase}()`;
}

export function defineMetric(name: string, type: MetricType, isTime: boolean): MetricDef {
  const existing = state.metrics.get(name);
  if (existing) {
    if (existing.type !== type) throw new Error(`metric ${name} already defined as a ${existing.type}`);
    return existing;
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) throw new Error(`invalid metric name "${name}"`);
  const def: MetricDef = { name, type, isTime, samples: [] };
  state.metrics.set(name, def);
  return def;
}

/** Tags k6 puts on every sample in this context. */
function contextTags(): Record<string, string> {
  if (state.phase === 'iteration' && state.scenario) return { scenario: state.scenario.name };
  if (state.phase === 'setup' || state.phase === 'teardown') return { group: `::${state.phase}` };
  return {};
}

export function addSample(name: string, value: number, tags: Record<string, string> = {}): void {
  const def = state.metrics.get(name);
  if (!def) throw new Error(`k6 test adapter: sample for unknown metric ${name}`);
  def.samples.push({ value, tags: { ...contextTags(), ...tags } });
}

/** k6's built-in metrics that the adapter records (a threshold on any other is refused). */
const BUILTIN_METRICS = [
  ['http_reqs', 'counter', false],
  ['http_req_duration', 'trend', true],
  ['http_req_failed', 'rate', false],
  ['checks', 'rate', false],
  ['iterations', 'counter', false],
  // Always 0 here: one iteration per scenario is never dropped. Kept so thresholds on it evaluate.
  ['dropped_iterations', 'counter', false],
] as const;

for (const [name, type, isTime] of BUILTIN_METRICS) defineMetric(name, type, isTime);
