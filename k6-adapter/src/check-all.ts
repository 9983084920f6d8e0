/**
 * `npm run loadtest:check`'s second half: every script listed under "k6-adapter-check" in the
 * current folder's package.json, through the adapter, each in its own process (as each k6 run
 * is), against the live stack at BASE_URL, with the -e values listed for it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

const listed = (JSON.parse(readFileSync('package.json', 'utf8')) as { 'k6-adapter-check'?: Record<string, Record<string, string>> })['k6-adapter-check'];
// Keys starting with "//" are comments.
const runs = Object.entries(listed ?? {}).filter(([script]) => !script.startsWith('//'));
if (runs.length === 0) {
  console.error(`${process.cwd()}/package.json lists no scripts under "k6-adapter-check"`);
  process.exit(2);
}
const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));

let passed = 0;
let failed = 0;
for (const [script, env] of runs) {
  const args = [cli, script, '-e', `BASE_URL=${baseUrl}`, '-e', 'SUMMARY_DIR=results/adapter-check'];
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  console.log(`\n=== ${script} through the k6 test adapter ===`);
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', timeout: 180_000 });
  if (r.status === 0) passed += 1;
  else {
    failed += 1;
    console.log(`>>> ${script}: FAILED (exit ${r.status ?? r.signal})`);
  }
}
console.log(`\nk6 test adapter, one run per script (see above).`);
console.log(`loadtest: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
