/**
 * k6's lifecycle, once: setup() -> one iteration of each scenario's exec function ->
 * teardown(data). As in k6, setup's result reaches the iterations and teardown as JSON, and a
 * setup() that throws stops the run before any iteration. A setup or teardown that outlasts its
 * setupTimeout/teardownTimeout fails (k6 would abort it; the adapter can only tell afterwards).
 */
import type { Plan, ScriptModule } from './option-checks.ts';
import { addSample, state } from './state.ts';

export function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message).split('\n').slice(0, 4).join('\n    ') : String(err);
}

/** Runs one lifecycle function, recording a line for the report and any error for the verdict. */
export function runStep(lines: string[], label: string, fn: () => unknown, timeoutMs = Infinity): unknown {
  const t0 = Date.now();
  try {
    const out = fn();
    if (out instanceof Promise) throw new Error(`${label} returned a Promise; the adapter runs synchronous k6 code only`);
    const ms = Date.now() - t0;
    if (ms > timeoutMs) throw new Error(`${label} took ${ms} ms, more than its ${timeoutMs} ms timeout: k6 would have aborted it`);
    lines.push(`ok    ${label} (${ms} ms)`);
    return out;
  } catch (err) {
    state.errors.push(`${label} threw: ${describeError(err)}`);
    lines.push(`FAIL  ${label} (${Date.now() - t0} ms)`);
    return undefined;
  }
}

export interface LifecycleResult {
  lines: string[];
  setupData: unknown;
  seconds: number;
}

export function runLifecycle(mod: ScriptModule, plan: Plan): LifecycleResult {
  const lines: string[] = [];
  state.startedAt = Date.now();
  let setupData: unknown;
  if (typeof mod.setup === 'function') {
    state.phase = 'setup';
    const setup = mod.setup;
    const out = runStep(lines, 'setup()', () => setup(), plan.setupTimeoutMs);
    setupData = out === undefined ? undefined : JSON.parse(JSON.stringify(out));
  }
  if (state.errors.length === 0) {
    for (const { name, exec, fn } of plan.scenarios) {
      state.phase = 'iteration';
      state.scenario = { name, exec };
      runStep(lines, `${name}: one iteration of ${exec}()`, () => fn(setupData));
      addSample('iterations', 1, { scenario: name });
      state.scenario = null;
    }
    if (typeof mod.teardown === 'function') {
      state.phase = 'teardown';
      const teardown = mod.teardown;
      runStep(lines, 'teardown(data)', () => teardown(setupData), plan.teardownTimeoutMs);
    }
  } else {
    lines.push('skip  iterations and teardown: setup() failed (k6 stops the run there too)');
  }
  return { lines, setupData, seconds: (Date.now() - state.startedAt) / 1000 };
}
