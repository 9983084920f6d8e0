import { describe, expect, it } from 'vitest';
import { CountedWatcher, type VoteStatusAnswer } from './counted-watcher.ts';

/** A status source the test controls: each check waits until the test answers it. */
function controlledCheck() {
  const calls: { id: string; answer: (a: VoteStatusAnswer) => void; fail: () => void }[] = [];
  const check = (id: string) =>
    new Promise<VoteStatusAnswer>((resolve, reject) => calls.push({ id, answer: resolve, fail: () => reject(new Error('down')) }));
  return { calls, check };
}

const flush = () => new Promise<void>((r) => setImmediate(r));
const noTimer = { fallbackMs: 0 };

describe('CountedWatcher', () => {
  it('asks only for tallies newer than the one on screen at the 202', async () => {
    const { calls, check } = controlledCheck();
    const counted: (number | undefined)[] = [];
    const w = new CountedWatcher('v1', 10, { check, onCounted: (s) => counted.push(s), ...noTimer });
    w.onTally(9);
    w.onTally(10);
    expect(calls).toHaveLength(0);
    w.onTally(11);
    expect(calls.map((c) => c.id)).toEqual(['v1']);
    calls[0]!.answer({ counted: true, seq: 11 });
    await flush();
    expect(counted).toEqual([11]);
    expect(w.counted).toBe(true);
    w.onTally(12);
    expect(calls).toHaveLength(1);
  });

  it('keeps one request in flight and then asks once for the newest tally', async () => {
    const { calls, check } = controlledCheck();
    const w = new CountedWatcher('v2', 0, { check, onCounted: () => {}, ...noTimer });
    w.onTally(1);
    w.onTally(2);
    w.onTally(3);
    expect(calls).toHaveLength(1);
    calls[0]!.answer({ counted: false });
    await flush();
    expect(calls).toHaveLength(2); // one more, for seq 3, not one per tally missed
    calls[1]!.answer({ counted: false });
    await flush();
    expect(calls).toHaveLength(2);
    w.onTally(4);
    expect(calls).toHaveLength(3);
    expect(w.checks).toBe(3);
  });

  it('asks again on the next tally after a failed check', async () => {
    const { calls, check } = controlledCheck();
    let done = false;
    const w = new CountedWatcher('v3', 0, { check, onCounted: () => (done = true), ...noTimer });
    w.onTally(1);
    calls[0]!.fail();
    await flush();
    w.onTally(2);
    calls[1]!.answer({ counted: true, seq: 2 });
    await flush();
    expect(done).toBe(true);
  });

  it('checks once after the fallback delay when the counting tally raced ahead of the 202', async () => {
    const { calls, check } = controlledCheck();
    let fire: (() => void) | null = null;
    let done = false;
    new CountedWatcher('v4', 5, { check, onCounted: () => (done = true), setTimer: (fn) => (fire = fn), clearTimer: () => {} });
    expect(calls).toHaveLength(0);
    fire!();
    expect(calls).toHaveLength(1);
    calls[0]!.answer({ counted: true, seq: 5 });
    await flush();
    expect(done).toBe(true);
  });

  it('stop() ends it', async () => {
    const { calls, check } = controlledCheck();
    const w = new CountedWatcher('v5', 0, { check, onCounted: () => {}, ...noTimer });
    w.stop();
    w.onTally(3);
    expect(calls).toHaveLength(0);
  });

  it('repeats the fallback check with a doubling delay while no tally comes (results hidden), and stops once counted', async () => {
    const { calls, check } = controlledCheck();
    const timers: { fn: () => void; ms: number }[] = [];
    let counted = false;
    new CountedWatcher('v9', 5, { check, onCounted: () => (counted = true), fallbackMs: 100, setTimer: (fn, ms) => timers.push({ fn, ms }) });
    expect(timers.map((t) => t.ms)).toEqual([100]);
    timers[0]!.fn();
    calls[0]!.answer({ counted: false });
    await flush();
    expect(timers.map((t) => t.ms)).toEqual([100, 200]);
    timers[1]!.fn();
    calls[1]!.answer({ counted: true });
    await flush();
    expect(counted).toBe(true);
    expect(timers).toHaveLength(2);
  });
});
