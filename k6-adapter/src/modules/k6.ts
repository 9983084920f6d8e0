/** The adapter's `k6`: check, fail, sleep. */
import { Unsupported } from '../refusal.ts';
import { addSample, state, where } from '../state.ts';

export function check<T>(value: T, sets: Record<string, (v: T) => unknown>, ...tags: unknown[]): boolean {
  if (tags.length > 0) throw new Unsupported('check(value, sets, tags): the tags argument');
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
    addSample('checks', ok ? 1 : 0, { check: name });
    if (!ok) console.error(`k6 test adapter: check FAILED in ${where()}: ${name}`);
  }
  return all;
}

export function fail(message?: string): never {
  throw new Error(message ?? 'fail() called');
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** A real blocking sleep, as k6's sleep() is for the VU. */
export function sleep(seconds: number): void {
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`sleep(${seconds}): not a duration`);
  if (seconds > 0) Atomics.wait(sleeper, 0, 0, seconds * 1000);
}
