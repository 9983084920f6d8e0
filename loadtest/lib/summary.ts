/**
 * handleSummary for every scenario: a machine-readable JSON file (k6's own summary data) and a
 * readable text file, plus the text on stdout. Files go to SUMMARY_DIR (default `results/`).
 */
import { summaryDir } from './config.ts';

interface MetricSummary {
  type: 'counter' | 'gauge' | 'rate' | 'trend';
  contains?: string;
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

interface Check {
  name: string;
  passes: number;
  fails: number;
}

interface Group {
  name: string;
  groups?: Group[];
  checks?: Check[];
}

export interface SummaryData {
  metrics: Record<string, MetricSummary>;
  root_group?: Group;
  state?: { testRunDurationMs?: number };
  setup_data?: unknown;
}

function fmt(metric: MetricSummary, key: string, value: number): string {
  if (metric.type === 'rate' && key === 'rate') return `${(value * 100).toFixed(2)}%`;
  if (metric.type === 'trend' && metric.contains === 'time') return `${value.toFixed(1)}ms`;
  if (key === 'rate') return `${value.toFixed(2)}/s`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function allChecks(group: Group | undefined, out: Check[] = []): Check[] {
  if (!group) return out;
  out.push(...(group.checks ?? []));
  for (const g of group.groups ?? []) allChecks(g, out);
  return out;
}

/** The readable summary: verdict, thresholds, checks, then every metric's values. */
export function textSummary(name: string, data: SummaryData, notes: string[] = []): string {
  const lines: string[] = [];
  const thresholdLines: string[] = [];
  let failed = 0;
  for (const [metricName, metric] of Object.entries(data.metrics).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [expr, t] of Object.entries(metric.thresholds ?? {})) {
      if (!t.ok) failed += 1;
      thresholdLines.push(`  ${t.ok ? 'PASS' : 'FAIL'}  ${metricName}: ${expr}`);
    }
  }
  const checks = allChecks(data.root_group);
  const checkFails = checks.reduce((n, c) => n + c.fails, 0);
  const seconds = ((data.state?.testRunDurationMs ?? 0) / 1000).toFixed(1);
  lines.push(`live vote load test: ${name} (${seconds}s)`);
  lines.push(failed === 0 ? 'RESULT: all thresholds passed' : `RESULT: ${failed} threshold(s) FAILED`);
  lines.push('', 'thresholds:', ...(thresholdLines.length ? thresholdLines : ['  (none)']));
  lines.push('', `checks: ${checks.length - checks.filter((c) => c.fails > 0).length}/${checks.length} always passed, ${checkFails} failure(s)`);
  for (const c of checks) lines.push(`  ${c.fails === 0 ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.passes} passed, ${c.fails} failed`);
  lines.push('', 'metrics:');
  for (const [metricName, metric] of Object.entries(data.metrics).sort(([a], [b]) => a.localeCompare(b))) {
    const values = Object.entries(metric.values)
      .map(([k, v]) => `${k}=${fmt(metric, k, v)}`)
      .join(' ');
    lines.push(`  ${metricName.padEnd(40)} ${values}`);
  }
  if (notes.length) lines.push('', ...notes);
  return `${lines.join('\n')}\n`;
}

/** Builds a scenario's handleSummary export. */
export function summaryHandler(name: string, notes: (data: SummaryData) => string[] = () => []) {
  return function handleSummary(data: SummaryData): Record<string, string> {
    const dir = summaryDir();
    const text = textSummary(name, data, notes(data));
    return {
      stdout: text,
      [`${dir}/${name}-summary.json`]: JSON.stringify(data, null, 2),
      [`${dir}/${name}-summary.txt`]: text,
    };
  };
}
