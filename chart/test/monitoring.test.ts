/**
 * The optional monitoring objects: off by default; with monitoring on, ServiceMonitors that find
 * the services' metrics ports (the server's ops port, never its public one), the alerts by their exact names with severities and runbook links,
 * and a dashboard whose every query parses as sensible PromQL over livevote_* metrics.
 * (That those metric names exist in the running services is metrics-names.test.ts.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envOf, helm, id, type K8s, render, selects, templateArgs, valueSets, workloads } from './lib.ts';
import {
  MONITORING_VALUES, alertRules, dashboardConfigMap, dashboardOf, dashboardPanels, dashboardQueries, dashboardVariableQueries,
  livevoteNames, parsePromQL, prometheusRule, renderMonitoring, ruleQueries, withGrafanaDefaults,
} from './monitoring-lib.ts';

const ALERTS = ['LiveVoteConsumerLagGrowing', 'LiveVoteDeadLettered', 'LiveVoteNoConsumer', 'LiveVoteSseDropsHigh', 'LiveVoteHigh5xxRate', 'LiveVoteRedisMemoryHigh'];
const isMonitoringObject = (d: K8s) =>
  String(d.apiVersion).startsWith('monitoring.coreos.com/') || (d.kind === 'ConfigMap' && d.metadata.labels?.grafana_dashboard !== undefined);

describe('monitoring off (the default)', () => {
  for (const set of valueSets.filter((s) => !s.files.includes(MONITORING_VALUES))) {
    it(`renders no monitoring object and no scrape rule with values: ${set.name}`, () => {
      const docs = render(set.files);
      expect(docs.filter(isMonitoringObject).map(id)).toEqual([]);
      const text = JSON.stringify(docs.filter((d) => d.kind === 'NetworkPolicy'));
      expect(text).not.toContain('prometheus');
    });
  }

  it('is off in values.yaml', () => {
    const docs = render([], ['monitoring.prometheusRule.enabled=true', 'monitoring.dashboard.enabled=true']);
    expect(docs.filter(isMonitoringObject)).toEqual([]);
  });
});

describe(`monitoring on (${MONITORING_VALUES})`, () => {
  const docs = renderMonitoring();

  it('passes helm lint --strict', () => {
    const r = helm(['lint', '--strict', '.', '-f', MONITORING_VALUES]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('scrapes the server and the consumer through ServiceMonitors that find their Services\' metrics ports', () => {
    const monitors = docs.filter((d) => d.kind === 'ServiceMonitor');
    expect(monitors.map((m) => m.metadata.name).sort()).toEqual(['lv-livevote-consumer', 'lv-livevote-server']);
    const wls = workloads(docs);
    for (const m of monitors) {
      expect(m.apiVersion).toBe('monitoring.coreos.com/v1');
      expect(m.metadata.labels.release, 'monitoring.labels reach the ServiceMonitor').toBe('kube-prometheus-stack');
      const namespaces: string[] = m.spec.namespaceSelector.matchNames;
      const services = docs.filter((d) => d.kind === 'Service' && namespaces.includes(d.metadata.namespace) && selects(m.spec.selector, d.metadata.labels ?? {}));
      expect(services.map(id), id(m)).toHaveLength(1);
      const svc = services[0];
      // The Prometheus Operator's job label is the Service name; the alerts depend on that.
      expect(svc.metadata.name).toBe(m.metadata.name);
      for (const ep of m.spec.endpoints) {
        expect(ep.path).toBe('/metrics');
        const port = svc.spec.ports.find((p: K8s) => p.name === ep.port);
        expect(port, `${id(m)} endpoint port "${ep.port}" is a named port of ${id(svc)}`).toBeDefined();
        const [wl] = wls.filter((w) => w.namespace === svc.metadata.namespace && selects({ matchLabels: svc.spec.selector }, w.podLabels));
        const containerPort = wl!.podSpec.containers.flatMap((c: K8s) => c.ports ?? []).find((p: K8s) => p.name === port.targetPort || p.containerPort === port.targetPort);
        expect(containerPort, `${id(svc)} port ${port.name} reaches a container port`).toBeDefined();
        // The server answers /metrics on its ops port alone (its public port says 404).
        const container = wl!.podSpec.containers.find((c: K8s) => (c.ports ?? []).includes(containerPort));
        const env = envOf(container);
        if (m.metadata.name.endsWith('-server')) {
          expect(ep.port).toBe('metrics');
          expect(containerPort.containerPort, 'the server\'s scrape port is its OPS_PORT').toBe(Number(env.OPS_PORT));
          expect(containerPort.containerPort).not.toBe(Number(env.PORT));
        } else {
          expect(containerPort.containerPort, 'the consumer serves /metrics on its PORT').toBe(Number(env.PORT));
        }
      }
    }
  });

  it('has exactly the six alerts, each with a severity and a runbook link to docs/operations.md', () => {
    const rule = prometheusRule(docs);
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.metadata.labels.release).toBe('kube-prometheus-stack');
    const rules = alertRules(docs);
    expect(rules.map((r) => r.alert)).toEqual(ALERTS);
    for (const r of rules) {
      expect(['warning', 'critical'], r.alert).toContain(r.labels.severity);
      expect(r.annotations.runbook_url).toBe(`https://git.example.com/livevote/blob/main/docs/operations.md#${r.alert.toLowerCase()}`);
      expect(r.annotations.summary, r.alert).toBeTruthy();
      expect(r.annotations.description, r.alert).toBeTruthy();
    }
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r]));
    expect(byName.LiveVoteConsumerLagGrowing.for).toBe('1m');
    expect(byName.LiveVoteNoConsumer.for).toBe('1m');
    expect(byName.LiveVoteNoConsumer.labels.severity).toBe('critical');
  });

  it('links the runbooks relative to the repository by default', () => {
    const rules = alertRules(render([], ['monitoring.enabled=true']));
    for (const r of rules) expect(r.annotations.runbook_url).toBe(`docs/operations.md#${r.alert.toLowerCase()}`);
  });

  it('says in each alert what it watches, and takes its thresholds from values', () => {
    const byName = Object.fromEntries(alertRules(docs).map((r) => [r.alert, String(r.expr)]));
    expect(byName.LiveVoteConsumerLagGrowing).toMatch(/(deriv|increase)\(livevote_consumer_lag_entries\{[^}]*\}\[\w+\]\)\) > 0$/);
    // The backlog first, so the alert's $value is the number of entries.
    expect(byName.LiveVoteConsumerLagGrowing).toMatch(/^max by \(namespace, job\) \(livevote_consumer_lag_entries\{[^}]*\}\) > 5000$/m);
    expect(byName.LiveVoteDeadLettered).toMatch(/increase\(livevote_consumer_dead_lettered_total\{[^}]*\}\[5m\]\)\) > 0/);
    const consumerUp = 'up{job="lv-livevote-consumer", namespace="lv-livevote-consumer"}';
    expect(byName.LiveVoteNoConsumer).toBe(`sum by (namespace, job) (${consumerUp}) == 0\nor\nabsent(${consumerUp})`);
    expect(byName.LiveVoteSseDropsHigh).toMatch(/rate\(livevote_sse_clients_dropped_total\{[^}]*\}\[5m\]\)\) > 1$/);
    expect(byName.LiveVoteHigh5xxRate).toMatch(/code="5xx"/);
    expect(byName.LiveVoteHigh5xxRate).toMatch(/> 0\.05$/);

    // A values file, as an operator would write it (--set turns 0.2 into a string).
    const file = join(mkdtempSync(join(tmpdir(), 'livevote-mon-')), 'tuned.yaml');
    writeFileSync(file, 'monitoring:\n  prometheusRule:\n    http5xxRatio: 0.2\n    sseDropsPerSecond: 7.5\n    consumerLagEntries: 123\n');
    const tuned = Object.fromEntries(alertRules(render([MONITORING_VALUES, file])).map((r) => [r.alert, String(r.expr)]));
    rmSync(dirname(file), { recursive: true, force: true });
    expect(tuned.LiveVoteHigh5xxRate).toMatch(/> 0\.2$/);
    expect(tuned.LiveVoteSseDropsHigh).toMatch(/> 7\.5$/);
    expect(tuned.LiveVoteConsumerLagGrowing).toMatch(/\) > 123$/m);
  });

  it('matches each alert to the targets of the ServiceMonitors it is about (job = Service name, and its namespace)', () => {
    const services = Object.fromEntries(docs.filter((d) => d.kind === 'ServiceMonitor').map((m) => [m.metadata.name, m.spec.namespaceSelector.matchNames[0]]));
    for (const q of ruleQueries(docs)) {
      const matchers = [...q.expr.matchAll(/job="([^"]+)", namespace="([^"]+)"/g)];
      expect(matchers.length, q.where).toBeGreaterThan(0);
      for (const [, job, ns] of matchers) expect(services[job!], `${q.where}: job ${job}`).toBe(ns);
    }
  });

  it('writes every alert expression as PromQL that parses and makes sense', () => {
    for (const q of ruleQueries(docs)) {
      const p = parsePromQL(q.expr);
      expect(p.problems, `${q.where}: ${q.expr}`).toEqual([]);
      // The parser and a plain regex agree on which metrics it reads.
      expect([...new Set(p.selectors.filter((s) => s.startsWith('livevote_')))].sort(), q.where).toEqual(livevoteNames(q.expr));
    }
  });

  it('puts the dashboard in a ConfigMap the Grafana sidecar picks up', () => {
    const cm = dashboardConfigMap(docs);
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(cm.metadata.namespace).toBe('grafana');
    expect(cm.metadata.annotations.grafana_folder).toBe('Live vote');
    expect(dashboardConfigMap(render([], ['monitoring.enabled=true'])).metadata.namespace, 'default: the release namespace').toBe('livevote');
    const dash = dashboardOf(docs);
    expect(dash.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dash.title).toBeTruthy();
  });

  it('shows the vote path end to end on the dashboard, every query parsing as sensible PromQL', () => {
    const dash = dashboardOf(docs);
    const queries = dashboardQueries(dash);
    expect(queries.length).toBeGreaterThan(20);
    for (const q of queries) {
      const p = parsePromQL(withGrafanaDefaults(q.expr));
      expect(p.problems, `${q.where}: ${q.expr}`).toEqual([]);
    }
    const used = new Set(queries.flatMap((q) => parsePromQL(withGrafanaDefaults(q.expr)).selectors));
    for (const name of [
      'livevote_votes_accepted_total', 'livevote_votes_rejected_total', 'livevote_stream_length_entries', 'livevote_consumer_lag_entries',
      'livevote_consumer_pending_entries', 'livevote_consumer_batch_size_votes_bucket', 'livevote_consumer_votes_applied_total',
      'livevote_consumer_duplicates_skipped_total', 'livevote_consumer_dead_lettered_total', 'livevote_sse_clients', 'livevote_sse_frames_written_total',
      'livevote_sse_clients_dropped_total', 'livevote_sse_vote_to_frame_seconds_bucket', 'livevote_server_nodejs_eventloop_lag_seconds',
      'livevote_consumer_nodejs_eventloop_lag_seconds', 'livevote_server_dependency_errors_total', 'livevote_consumer_errors_total', 'livevote_http_responses_total',
    ]) expect(used.has(name), `the dashboard shows ${name}`).toBe(true);
    const all = queries.map((q) => q.expr).join('\n');
    for (const p of ['0.5', '0.99']) expect(all).toContain(`histogram_quantile(${p}, sum by (le) (rate(livevote_sse_vote_to_frame_seconds_bucket{`);
    expect(all).toMatch(/livevote_votes_rejected_total\{[^}]*\}\[[^\]]+\]\)\)/);
    expect(all).toMatch(/sum by \(reason\) \(rate\(livevote_votes_rejected_total/);
    expect(all).toMatch(/code="5xx"/);
  });

  it('defines every variable the dashboard uses, from metrics the services export', () => {
    const dash = dashboardOf(docs);
    const defined = new Set((dash.templating.list as K8s[]).map((v) => v.name));
    const text = JSON.stringify(dash.panels);
    const usedVars = new Set([...text.matchAll(/\$\{?([a-z_]+)\}?/g)].map((m) => m[1]!).filter((v) => !v.startsWith('__')));
    for (const v of usedVars) expect(defined.has(v), `variable $${v}`).toBe(true);
    for (const q of dashboardVariableQueries(dash)) {
      expect(q.expr, q.where).toMatch(/^label_values\(livevote_[a-z0-9_]+, job\)$/);
      const selector = parsePromQL(q.expr.replace(/^label_values\((.*), job\)$/, '$1'));
      expect(selector.problems.filter((p) => p.startsWith('syntax')), q.where).toEqual([]);
    }
  });

  it('lays the panels out without overlaps', () => {
    const panels = dashboardPanels(dashboardOf(docs));
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Map<string, string>();
    for (const p of panels) {
      const g = p.gridPos;
      expect(g.x + g.w, p.title).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const key = `${x},${y}`;
          expect(cells.get(key), `"${p.title}" overlaps "${cells.get(key)}"`).toBeUndefined();
          cells.set(key, p.title);
        }
      }
    }
  });

  it('can leave out the rules or the dashboard', () => {
    const noRules = renderMonitoring(['monitoring.prometheusRule.enabled=false']);
    expect(noRules.filter((d) => d.kind === 'PrometheusRule')).toEqual([]);
    expect(noRules.filter((d) => d.kind === 'ServiceMonitor')).toHaveLength(2);
    const noDash = renderMonitoring(['monitoring.dashboard.enabled=false']);
    expect(noDash.filter((d) => d.kind === 'ConfigMap' && d.metadata.labels?.grafana_dashboard)).toEqual([]);
  });

  it('refuses monitoring values that cannot work', () => {
    const bad: [string, RegExp][] = [
      ['monitoring.enabeld=true', /additional properties 'enabeld' not allowed/],
      ['monitoring.prometheusRule.http5xxRatio=2', /\/monitoring\/prometheusRule\/http5xxRatio/],
      ['monitoring.prometheusRule.sseDropsPerSecond=0', /\/monitoring\/prometheusRule\/sseDropsPerSecond/],
      ['monitoring.serviceMonitor.interval=often', /\/monitoring\/serviceMonitor\/interval/],
      ['monitoring.prometheusRule.runbookBase=docs/ops.md#x', /\/monitoring\/prometheusRule\/runbookBase/],
    ];
    for (const [set, message] of bad) {
      const r = helm(templateArgs([], [set]));
      expect(r.status, set).not.toBe(0);
      expect(r.stderr, set).toMatch(message);
    }
  });
});

describe('the PromQL checks themselves', () => {
  it('refuse broken or senseless queries', () => {
    const senseless = [
      'sum(rate(livevote_sse_frames_written_total[5m])',
      'rate(livevote_sse_clients[5m])',
      'deriv(livevote_consumer_votes_applied_total[5m])',
      'sum(livevote_consumer_votes_applied_total)',
      'histogram_quantile(0.99, sum(rate(livevote_sse_vote_to_frame_seconds_bucket[5m])))',
      'sum(rate(livevote_sse_vote_to_frame_seconds_bucket[5m]))',
      'livevote_consumer_lag_entries >',
    ];
    for (const q of senseless) expect(parsePromQL(q).problems, q).not.toEqual([]);
    expect(parsePromQL('histogram_quantile(0.5, sum by (le) (rate(livevote_sse_vote_to_frame_seconds_bucket{job=~"$j"}[5m])))').problems).toEqual([]);
  });
});
