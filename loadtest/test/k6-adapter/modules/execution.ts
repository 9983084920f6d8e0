/** Test adapter for `k6/execution`: one VU (id 1) running one iteration of each scenario. */
import { state, where } from '../state.ts';

function inVu(what: string) {
  if (state.phase !== 'iteration' || !state.scenario) {
    // k6 throws too: scenario and VU information exist only inside an iteration.
    throw new Error(`k6/execution: ${what} is only available in a VU iteration, not in ${state.phase}()`);
  }
  return state.scenario;
}

export const exec = {
  get vu() {
    inVu('exec.vu');
    return { idInTest: 1, idInInstance: 1, iterationInInstance: 0, iterationInScenario: 0, tags: {}, metrics: { tags: {}, metadata: {} } };
  },
  get scenario() {
    const s = inVu('exec.scenario');
    return { name: s.name, executor: s.executor, startTime: s.startTime, progress: 0, iterationInInstance: 0, iterationInTest: 0 };
  },
  get instance() {
    return {
      iterationsCompleted: 0,
      iterationsInterrupted: 0,
      vusActive: state.phase === 'iteration' ? 1 : 0,
      vusInitialized: 1,
      currentTestRunDuration: Date.now() - state.startedAt,
    };
  },
  test: {
    abort(reason?: string): never {
      state.errors.push(`exec.test.abort() in ${where()}: ${reason ?? ''}`);
      throw new Error(`test aborted: ${reason ?? ''}`);
    },
    fail(reason?: string): void {
      state.errors.push(`exec.test.fail() in ${where()}: ${reason ?? ''}`);
    },
    get options(): unknown {
      return (globalThis as { __k6AdapterOptions?: unknown }).__k6AdapterOptions ?? {};
    },
  },
};

export default exec;
