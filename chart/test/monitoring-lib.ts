/**
 * What the chart's monitoring objects ask Prometheus: every alert expression and every dashboard
 * query, read from the rendered chart, parsed with the Prometheus project's own PromQL grammar
 * (@prometheus-io/lezer-promql) and checked for the mistakes that parse but mean nothing.
 */
import type { SyntaxNode } from '@lezer/common';
import { parser } from '@prometheus-io/lezer-promql';
import { type K8s, render } from './lib.ts';

export const MONITORING_VALUES = 'ci/monitoring-values.yaml';

export interface Query {
  /** Where it comes from, for messages: "alert LiveVoteNoConsumer", "panel Batch size (B)". */
  where: string;
  expr: string;
}

export function renderMonitoring(sets: string[] = []): K8s[] {
  return render([MONITORING_VALUES], sets);
}

export function prometheusRule(docs: K8s[]): K8s {
  const rules = docs.filter((d) => d.kind === 'PrometheusRule');
  if (rules.length !== 1) throw new Error(`expected one PrometheusRule, found ${rules.length}`);
  return rules[0];
}

export function alertRules(docs: K8s[]): K8s[] {
  return prometheusRule(docs).spec.groups.flatMap((g: K8s) => g.rules);
}

export function ruleQueries(docs: K8s[]): Query[] {
  return alertRules(docs).map((r) => ({ where: `alert ${r.alert ?? r.record}`, expr: String(r.expr) }));
}

export function dashboardConfigMap(docs: K8s[]): K8s {
  const maps = docs.filter((d) => d.kind === 'ConfigMap' && d.metadata.labels?.grafana_dashboard !== undefined);
  if (maps.length !== 1) throw new Error(`expected one dashboard ConfigMap, found ${maps.length}`);
  return maps[0];
}

export function dashboardOf(docs: K8s[]): K8s {
  const data = dashboardConfigMap(docs).data as Record<string, string>;
  const keys = Object.keys(data);
  if (keys.length !== 1 || !keys[0]!.endsWith('.json')) throw new Error(`expected one .json key in the dashboard ConfigMap, found ${keys.join()}`);
  return JSON.parse(data[keys[0]!]!);
}

/** Every panel's queries (rows included), and the template variables' label_values() queries. */
export function dashboardPanels(dash: K8s): K8s[] {
  return (dash.panels as K8s[]).flatMap((p) => [p, ...(p.panels ?? [])]);
}

export function dashboardQueries(dash: K8s): Query[] {
  const out: Query[] = [];
  for (const p of dashboardPanels(dash)) {
    for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" (${t.refId})`, expr: String(t.expr) });
  }
  return out;
}

export function dashboardVariableQueries(dash: K8s): Query[] {
  return (dash.templating?.list ?? [])
    .filter((v: K8s) => v.type === 'query')
    .map((v: K8s) => ({ where: `variable ${v.name}`, expr: String(typeof v.query === 'string' ? v.query : v.query.query) }));
}

/** The livevote_* names a text mentions (a regex over the text, as a second opinion to the parser). */
export function livevoteNames(text: string): string[] {
  return [...new Set(text.match(/\blivevote_[a-z0-9_]+/g) ?? [])].sort();
}

/** Grafana's interval variables are not PromQL; give them what Grafana would substitute. */
export function withGrafanaDefaults(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$__range', '1h');
}

const RANGE_COUNTER_FUNCS = new Set(['Rate', 'Irate', 'Increase']);
const RANGE_GAUGE_FUNCS = new Set(['Deriv', 'Delta', 'Idelta', 'PredictLinear', 'AvgOverTime', 'MaxOverTime', 'MinOverTime', 'LastOverTime', 'QuantileOverTime']);

function kindOf(name: string): 'counter' | 'bucket' | 'gauge' {
  if (name.endsWith('_bucket')) return 'bucket';
  if (/_(total|count|sum)$/.test(name)) return 'counter';
  return 'gauge';
}

function functionOf(call: SyntaxNode): string | undefined {
  return call.getChild('FunctionIdentifier')?.firstChild?.name;
}

function ancestors(n: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let p = n.parent; p; p = p.parent) out.push(p);
  return out;
}

export interface Parsed {
  /** Metric names of every vector selector. */
  selectors: string[];
  problems: string[];
}

/**
 * Parses one PromQL expression and reports syntax errors plus what makes a query nonsense even
 * though it parses: rate()/increase() over a gauge, deriv() over a counter, a raw counter value
 * (only meaningful when testing for a new series with `unless`), or a histogram bucket that is not
 * rate()d inside histogram_quantile() and aggregated by `le`.
 */
export function parsePromQL(expr: string): Parsed {
  const tree = parser.parse(expr);
  const problems: string[] = [];
  const selectors: string[] = [];
  tree.iterate({
    enter(ref) {
      if (ref.type.isError) problems.push(`syntax error at ${ref.from}: "${expr.slice(Math.max(0, ref.from - 15), ref.from + 15)}"`);
      if (ref.name !== 'VectorSelector') return;
      const node = ref.node;
      const id = node.getChild('Identifier');
      if (!id) return; // {__name__=...} selectors: none here
      const name = expr.slice(id.from, id.to);
      selectors.push(name);
      const up = ancestors(node);
      const inMatrix = node.parent?.name === 'MatrixSelector';
      const call = inMatrix ? up.find((a) => a.name === 'FunctionCall') : undefined;
      const fn = call ? functionOf(call) : undefined;
      const kind = kindOf(name);
      if (inMatrix) {
        if (kind !== 'gauge' && !RANGE_COUNTER_FUNCS.has(fn ?? '')) problems.push(`${name} is a counter but ranged with ${fn ?? 'nothing'}; use rate() or increase()`);
        if (kind === 'gauge' && !RANGE_GAUGE_FUNCS.has(fn ?? '')) problems.push(`${name} is a gauge but ranged with ${fn ?? 'nothing'}; rate()/increase() need a counter`);
      } else if (kind !== 'gauge') {
        const newSeriesTest = up.some((a) => a.name === 'BinaryExpr' && a.getChild('Unless'));
        if (!newSeriesTest) problems.push(`${name} is a counter used as a raw value; rate() or increase() it`);
      }
      if (kind === 'bucket') {
        const quantile = up.find((a) => a.name === 'FunctionCall' && functionOf(a) === 'HistogramQuantile');
        if (!quantile) problems.push(`${name} outside histogram_quantile()`);
        const aggregations = up.filter((a) => a.name === 'AggregateExpr' && (!quantile || a.from > quantile.from));
        const byLe = aggregations.some((a) => {
          const mod = a.getChild('AggregateModifier');
          if (!mod?.getChild('By')) return false;
          const labels = mod.getChild('GroupingLabels')?.getChildren('LabelName') ?? [];
          return labels.some((l) => expr.slice(l.from, l.to) === 'le');
        });
        if (aggregations.length > 0 && !byLe) problems.push(`${name} aggregated without keeping "le"`);
      }
    },
  });
  if (selectors.length === 0) problems.push('selects no series');
  return { selectors, problems };
}
