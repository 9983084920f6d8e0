/**
 * `npm run loadtest:check`'s second half: every scenario script through the k6 test adapter,
 * each in its own process (as each k6 run is), against the live stack at BASE_URL. The env
 * below sizes each script so that real k6 would also run exactly one iteration where that
 * matters (smoke: VUS=1 VOTES=1, so its exactly-once teardown expects exactly one vote).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const baseUrl = process.env.BASE_URL;
if (!baseUrl) {
  console.error('loadtest:check needs BASE_URL, the live stack to check the scripts against (e.g. BASE_URL=http://127.0.0.1:3300)');
  process.exit(2);
}
const host = new URL(baseUrl).hostname;
if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(host)) {
  console.error(`loadtest:check only targets a stack on this machine (127.0.0.0/8, localhost, [::1]); BASE_URL is ${baseUrl}`);
  process.exit(2);
}

const loadtestDir = fileURLToPath(new URL('../..', import.meta.url));
const runner = fileURLToPath(new URL('./run.ts', import.meta.url));

const runs: Array<[string, Record<string, string>]> = [
  ['smoke.ts', { VUS: '1', VOTES: '1', DURATION: '0s', COUNT_TIMEOUT: '30s' }],
  ['spike.ts', { DRAIN_TIMEOUT: '30s' }],
  ['soak.ts', { DRAIN_TIMEOUT: '30s' }],
  ['watchers.ts', { HOLD: '0s', FRAME_WAIT: '20s', DRAIN_TIMEOUT: '30s' }],
];

let passed = 0;
let failed = 0;
for (const [script, env] of runs) {
  const args = [runner, script, '-e', `BASE_URL=${baseUrl}`, '-e', 'SUMMARY_DIR=results/adapter-check'];
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  console.log(`\n=== ${script} through the k6 test adapter ===`);
  const r = spawnSync(process.execPath, args, { cwd: loadtestDir, stdio: 'inherit', timeout: 180_000 });
  if (r.status === 0) passed += 1;
  else {
    failed += 1;
    console.log(`>>> ${script}: FAILED (exit ${r.status ?? r.signal})`);
  }
}
console.log(`\nk6 test adapter, one run per script (see above).`);
console.log(`loadtest: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
