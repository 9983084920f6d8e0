/**
 * k6 thresholds: parsing their keys and expressions, and evaluating them over what the run
 * recorded. Count and rate thresholds decide the verdict; a latency (trend) threshold over one
 * sample says nothing about a p95, so it is evaluated and shown but does not decide.
 */
import { state, type MetricDef, type MetricType, type Sample } from './state.ts';

export interface Threshold {
  key: string;
  expr: string;
  def: MetricDef;
  tags: Record<string, string>;
}

/** "http_req_duration{name:GET /api/results}" -> metric and tag filter. */
export function parseKey(key: string): { metric: string; tags: Record<string, string> } {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\{(.*)\})?$/.exec(key);
  if (!m) throw new Error(`invalid threshold key "${key}"`);
  const tags: Record<string, string> = {};
  for (const part of m[2] === undefined ? [] : m[2].split(',')) {
    const i = part.indexOf(':');
    if (i <= 0) throw new Error(`invalid tag filter "${part}" in threshold key "${key}"`);
    tags[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return { metric: m[1] as string, tags };
}

const AGGREGATIONS: Record<MetricType, RegExp> = {
  counter: /^(count|rate)$/,
  rate: /^rate$/,
  trend: /^(avg|min|max|med|p\(\d+(\.\d+)?\))$/,
};

export function parseExpr(expr: string, type: MetricType): { aggregation: string; op: string; value: number } {
  const m = /^\s*([a-z]+(?:\(\d+(?:\.\d+)?\))?)\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$/.exec(expr);
  if (!m) throw new Error(`invalid threshold expression "${expr}"`);
  const aggregation = m[1] as string;
  if (!AGGREGATIONS[type].test(aggregation)) throw new Error(`"${aggregation}" is not an aggregation k6 offers for a ${type} metric (in "${expr}")`);
  return { aggregation, op: m[2] as string, value: Number(m[3]) };
}

export function matching(samples: Sample[], tags: Record<string, string>): Sample[] {
  return samples.filter((s) => Object.entries(tags).every(([k, v]) => s.tags[k] === v));
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = sorted[Math.floor(rank)] as number;
  const hi = sorted[Math.ceil(rank)] as number;
  return lo + (hi - lo) * (rank - Math.floor(rank));
}

/** The values k6 reports for a metric in its summary (trends: k6's default summaryTrendStats). */
export function summarize(def: MetricDef, samples: Sample[], seconds: number): Record<string, number> {
  const values = samples.map((s) => s.value);
  if (def.type === 'counter') {
    const count = values.reduce((a, b) => a + b, 0);
    return { count, rate: seconds > 0 ? count / seconds : 0 };
  }
  if (def.type === 'rate') {
    const passes = values.filter((v) => v !== 0).length;
    return { rate: values.length ? passes / values.length : 0, passes, fails: values.length - passes };
  }
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return {};
  const avg = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return { avg, min: sorted[0] as number, med: percentile(sorted, 50), max: sorted.at(-1) as number, 'p(90)': percentile(sorted, 90), 'p(95)': percentile(sorted, 95) };
}

function aggregate(def: MetricDef, samples: Sample[], aggregation: string, seconds: number): number {
  const p = /^p\((\d+(?:\.\d+)?)\)$/.exec(aggregation);
  if (p) return percentile(samples.map((s) => s.value).sort((a, b) => a - b), Number(p[1]));
  return summarize(def, samples, seconds)[aggregation] ?? NaN;
}

const COMPARE: Record<string, (l: number, r: number) => boolean> = {
  '<': (l, r) => l < r,
  '<=': (l, r) => l <= r,
  '>': (l, r) => l > r,
  '>=': (l, r) => l >= r,
  '==': (l, r) => l === r,
  '===': (l, r) => l === r,
  '!=': (l, r) => l !== r,
};

export interface ThresholdResults {
  /** One line per threshold for the report. */
  lines: string[];
  /** k6's summary shape: metric key -> expression -> { ok }. */
  okByKey: Map<string, Record<string, { ok: boolean }>>;
}

/** Evaluates every threshold; a failed count/rate threshold is added to state.errors. */
export function evaluateThresholds(thresholds: Threshold[], seconds: number): ThresholdResults {
  const results: ThresholdResults = { lines: [], okByKey: new Map() };
  for (const t of thresholds) {
    const { aggregation, op, value } = parseExpr(t.expr, t.def.type);
    const samples = matching(t.def.samples, t.tags);
    const noData = samples.length === 0 && t.def.type !== 'counter';
    const actual = aggregate(t.def, samples, aggregation, seconds);
    const ok = noData || (COMPARE[op] as (l: number, r: number) => boolean)(actual, value);
    const decides = t.def.type !== 'trend' && !noData;
    const verdict = noData ? 'n/a ' : ok ? 'ok  ' : decides ? 'FAIL' : 'info';
    const got = noData ? 'no samples' : `${Number.isNaN(actual) ? 'NaN' : +actual.toFixed(3)} from ${samples.length} sample(s)`;
    results.lines.push(`${verdict}  ${t.key}: ${t.expr}  (got ${got})`);
    if (!ok && decides) state.errors.push(`threshold ${t.key}: ${t.expr} failed (got ${actual})`);
    results.okByKey.set(t.key, { ...results.okByKey.get(t.key), [t.expr]: { ok } });
  }
  return results;
}
