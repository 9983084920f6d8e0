/**
 * The adapter's `k6/execution`: the one VU (id 1) running the one iteration of a scenario.
 * Only the fields the scripts read; reading any other throws.
 */
import { onlyThese } from '../refusal.ts';
import { state } from '../state.ts';

function inIteration(what: string): void {
  // k6 throws too: scenario and VU information exist only inside an iteration.
  if (state.phase !== 'iteration' || !state.scenario) throw new Error(`k6/execution: ${what} is only available in a VU iteration, not in ${state.phase}()`);
}

const exec = onlyThese('exec', {
  get vu() {
    inIteration('exec.vu');
    return onlyThese('exec.vu', { idInTest: 1 });
  },
  get scenario() {
    inIteration('exec.scenario');
    return onlyThese('exec.scenario', { iterationInTest: 0 });
  },
  get instance() {
    return onlyThese('exec.instance', { currentTestRunDuration: Date.now() - state.startedAt });
  },
});

export default exec;
