/**
 * handleSummary(data) with k6-shaped summary data, so the scripts' summary code runs too, and
 * the files it returns written where it says (stdout and stderr are left to the report).
 * The data carries what the project's summary code reads: metrics (type, contains, values,
 * thresholds), root_group.checks, state.testRunDurationMs and setup_data.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { runStep, type LifecycleResult } from './lifecycle.ts';
import type { Plan, ScriptModule } from './option-checks.ts';
import { state, type MetricDef, type Sample } from './state.ts';
import { matching, summarize, type ThresholdResults } from './thresholds.ts';

export function runSummary(mod: ScriptModule, plan: Plan, run: LifecycleResult, thresholds: ThresholdResults): void {
  if (typeof mod.handleSummary !== 'function') return;
  const metric = (key: string, def: MetricDef, samples: Sample[]) => ({
    type: def.type,
    contains: def.isTime ? 'time' : 'default',
    values: summarize(def, samples, run.seconds),
    ...(thresholds.okByKey.has(key) ? { thresholds: thresholds.okByKey.get(key) } : {}),
  });
  const metrics: Record<string, unknown> = {};
  for (const def of state.metrics.values()) {
    if (def.samples.length > 0 || thresholds.okByKey.has(def.name)) metrics[def.name] = metric(def.name, def, def.samples);
  }
  // k6 reports a tag-filtered threshold's key as a sub-metric of its own.
  for (const t of plan.thresholds) if (Object.keys(t.tags).length > 0) metrics[t.key] = metric(t.key, t.def, matching(t.def.samples, t.tags));
  const data = {
    metrics,
    root_group: { name: '', groups: [], checks: [...state.checks.values()].map(({ name, passes, fails }) => ({ name, passes, fails })) },
    state: { testRunDurationMs: run.seconds * 1000 },
    setup_data: run.setupData,
  };
  state.phase = 'summary';
  const handleSummary = mod.handleSummary;
  const out = runStep(run.lines, 'handleSummary(data)', () => handleSummary(data)) as Record<string, string> | undefined;
  for (const [target, content] of Object.entries(out ?? {})) {
    if (target === 'stdout' || target === 'stderr') continue;
    const path = resolve(target);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    run.lines.push(`      handleSummary wrote ${target}`);
  }
}
