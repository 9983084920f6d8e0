/** Parses k6 threshold definitions and evaluates them over the adapter's samples. */
import type { MetricDef, MetricType, Sample } from './state.ts';

export interface ParsedKey {
  metric: string;
  tags: Record<string, string>;
}

/** "http_req_duration{name:GET /api/results,status:200}" -> metric and tag filter. */
export function parseKey(key: string): ParsedKey {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\{(.*)\})?$/.exec(key);
  if (!m) throw new Error(`invalid threshold key "${key}"`);
  const tags: Record<string, string> = {};
  if (m[2] !== undefined) {
    for (const part of m[2].split(',')) {
      const i = part.indexOf(':');
      if (i <= 0) throw new Error(`invalid tag filter "${part}" in threshold key "${key}"`);
      tags[part.slice(0, i).trim()] = part.slice(i + 1).trim();
    }
  }
  return { metric: m[1] as string, tags };
}

const AGGREGATIONS: Record<MetricType, RegExp> = {
  counter: /^(count|rate)$/,
  gauge: /^value$/,
  rate: /^rate$/,
  trend: /^(avg|min|max|med|p\((\d+(\.\d+)?)\))$/,
};

export interface ParsedExpr {
  aggregation: string;
  op: string;
  value: number;
}

export function parseExpr(expr: string, type: MetricType): ParsedExpr {
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
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (rank - lo);
}

/** The values k6 reports for a metric in its summary. */
export function summarize(def: MetricDef, samples: Sample[], seconds: number): Record<string, number> {
  const values = samples.map((s) => s.value);
  switch (def.type) {
    case 'counter': {
      const count = values.reduce((a, b) => a + b, 0);
      return { count, rate: seconds > 0 ? count / seconds : 0 };
    }
    case 'gauge':
      return { value: values.at(-1) ?? 0, min: Math.min(...values), max: Math.max(...values) };
    case 'rate': {
      const passes = values.filter((v) => v !== 0).length;
      return { rate: values.length ? passes / values.length : 0, passes, fails: values.length - passes };
    }
    case 'trend': {
      const sorted = [...values].sort((a, b) => a - b);
      if (sorted.length === 0) return {};
      return {
        avg: sorted.reduce((a, b) => a + b, 0) / sorted.length,
        min: sorted[0] as number,
        med: percentile(sorted, 50),
        max: sorted.at(-1) as number,
        'p(90)': percentile(sorted, 90),
        'p(95)': percentile(sorted, 95),
      };
    }
  }
}

export function aggregate(def: MetricDef, samples: Sample[], aggregation: string, seconds: number): number {
  const p = /^p\((\d+(?:\.\d+)?)\)$/.exec(aggregation);
  if (p) return percentile([...samples.map((s) => s.value)].sort((a, b) => a - b), Number(p[1]));
  const v = summarize(def, samples, seconds)[aggregation];
  return v === undefined ? NaN : v;
}

export function compare(left: number, op: string, right: number): boolean {
  switch (op) {
    case '<':
      return left < right;
    case '<=':
      return left <= right;
    case '>':
      return left > right;
    case '>=':
      return left >= right;
    case '==':
    case '===':
      return left === right;
    case '!=':
      return left !== right;
    default:
      throw new Error(`unknown operator ${op}`);
  }
}
