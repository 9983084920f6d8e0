/**
 * The adapter's report and verdict: lifecycle, checks, requests and thresholds, then PASS, or
 * FAIL with every reason (an error, a failed check, a failed request, no check at all).
 */
import type { LifecycleResult } from './lifecycle.ts';
import { state } from './state.ts';
import type { ThresholdResults } from './thresholds.ts';

/** Prints the report; returns the exit code (0 pass, 1 fail). */
export function report(script: string, baseUrl: string, run: LifecycleResult, thresholds: ThresholdResults): number {
  const checks = [...state.checks.values()];
  console.log(`\nk6 test adapter report for ${script} (one iteration per scenario, against ${baseUrl})`);
  console.log('lifecycle:');
  for (const l of run.lines) console.log(`  ${l}`);
  console.log(`checks (${checks.length}):`);
  for (const c of checks) console.log(`  ${c.fails ? 'FAIL' : 'ok  '}  ${c.name}: ${c.passes} passed, ${c.fails} failed  [${[...c.where].join(', ')}]`);
  console.log(`requests: ${state.metrics.get('http_reqs')?.samples.length ?? 0}, counted as failed: ${state.failedRequests.length}`);
  for (const f of state.failedRequests) console.log(`  FAIL  ${f}`);
  console.log('thresholds (count/rate decide; one-sample latencies are informational):');
  for (const l of thresholds.lines) console.log(`  ${l}`);
  const reasons = [
    ...state.errors,
    ...checks.filter((c) => c.fails > 0).map((c) => `check failed: ${c.name}`),
    ...state.failedRequests.map((f) => `request failed: ${f}`),
  ];
  if (checks.length === 0) reasons.push('no check ran: a script run that checks nothing proves nothing');
  if (reasons.length === 0) {
    console.log(`\nPASS ${script}`);
    return 0;
  }
  console.log(`\nFAIL ${script}:`);
  for (const r of reasons) console.log(`  - ${r}`);
  return 1;
}
