/**
 * The k6 test adapter's command line: runs one k6 script's lifecycle once, in Node, against a
 * live stack, to prove the script right (routes, payloads, checks, teardown assertions), and
 * exits non-zero, listing why, when it is not. See ../README.md.
 *
 *   node ../k6-adapter/src/cli.ts smoke.ts -e VOTES=1 -e VUS=1     (from loadtest/)
 *
 * init (imports, options) -> option checks -> setup() -> one iteration of each scenario
 * -> teardown(data) -> thresholds -> handleSummary(data) -> report.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeError, runLifecycle } from './lifecycle.ts';
import { explainImportError, installModuleResolution } from './module-resolution.ts';
import { checkOptions, type ScriptModule } from './option-checks.ts';
import { Unsupported } from './refusal.ts';
import { report } from './report.ts';
import { state } from './state.ts';
import { runSummary } from './summary.ts';
import { evaluateThresholds } from './thresholds.ts';

function parseArgs(argv: string[]): { script: string; env: Record<string, string> } {
  const env: Record<string, string> = {};
  let script: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-e' || a === '--env') {
      const kv = argv[++i] ?? '';
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new Error(`-e needs NAME=value, got "${kv}"`);
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (!script) script = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!script) throw new Error('usage: cli.ts <script> [-e NAME=value]...');
  return { script, env };
}

/** k6's globals: __ENV (the environment and every -e); the others are refused when read. */
function installGlobals(env: Record<string, string>): void {
  Object.assign(globalThis, { __ENV: { ...process.env, ...env } });
  for (const name of ['__VU', '__ITER', 'open']) {
    Object.defineProperty(globalThis, name, { configurable: true, get: () => { throw new Unsupported(`the k6 global ${name}`); } });
  }
}

async function main(): Promise<number> {
  const { script, env } = parseArgs(process.argv.slice(2));
  installGlobals(env);
  installModuleResolution();
  let mod: ScriptModule;
  try {
    mod = (await import(pathToFileURL(resolve(script)).href)) as ScriptModule;
  } catch (err) {
    console.error(`FAIL init: ${explainImportError(err) ?? describeError(err)}`);
    return 1;
  }
  const plan = checkOptions(mod);
  if (plan.problems.length) {
    for (const p of plan.problems) console.error(`FAIL options: ${p}`);
    return 1;
  }
  for (const n of plan.notes) console.log(`note: ${n}`);
  const run = runLifecycle(mod, plan);
  const thresholds = evaluateThresholds(plan.thresholds, run.seconds);
  runSummary(mod, plan, run, thresholds);
  const baseUrl = (globalThis as { __ENV?: Record<string, string> }).__ENV?.BASE_URL ?? '(BASE_URL unset)';
  return report(script, baseUrl, run, thresholds);
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`k6 test adapter crashed: ${describeError(err)}`);
    process.exit(2);
  },
);
