/** Test adapter for `k6`: check, group, sleep, fail. */
import { blockFor } from '../bridge.ts';
import { addSample, state, where } from '../state.ts';

export function check<T>(value: T, sets: Record<string, (v: T) => unknown>, tags: Record<string, string> = {}): boolean {
  let all = true;
  for (const [name, predicate] of Object.entries(sets)) {
    // As in k6, an exception in a predicate propagates and ends the iteration.
    const ok = Boolean(predicate(value));
    all &&= ok;
    const rec = state.checks.get(name) ?? { name, passes: 0, fails: 0, where: new Set<string>() };
    if (ok) rec.passes += 1;
    else rec.fails += 1;
    rec.where.add(where());
    state.checks.set(name, rec);
    addSample('checks', ok ? 1 : 0, { check: name, ...tags });
    if (!ok) console.error(`k6 test adapter: check FAILED in ${where()}: ${name}`);
  }
  return all;
}

export function group<T>(name: string, fn: () => T): T {
  if (typeof fn !== 'function') throw new Error('group() needs a function');
  void name;
  return fn();
}

export function sleep(seconds: number): void {
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`sleep(${seconds}): not a duration`);
  blockFor(seconds * 1000);
}

export function fail(message?: string): never {
  throw new Error(message ?? 'fail() called');
}

export function randomSeed(): void {}

export default { check, group, sleep, fail, randomSeed };
