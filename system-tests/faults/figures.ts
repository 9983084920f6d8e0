import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

const dir = path.resolve(import.meta.dirname, '../../test-results');

/** Prints a case's measured figure and appends it to test-results/faults.jsonl (git-ignored). */
export function figure(caseName: string, data: Record<string, unknown>): void {
  console.log(`[figure] ${caseName}: ${JSON.stringify(data)}`);
  mkdirSync(dir, { recursive: true });
  appendFileSync(path.join(dir, 'faults.jsonl'), `${JSON.stringify({ case: caseName, at: new Date().toISOString(), ...data })}\n`);
}

/** How many times each value occurs: `{202: 17, 503: 2}`. */
export function countBy(values: readonly (string | number)[]): Record<string, number> {
  return values.reduce<Record<string, number>>((o, v) => ({ ...o, [v]: (o[v] ?? 0) + 1 }), {});
}
