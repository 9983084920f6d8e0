import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { runNemesis } from '../src/run.ts';

// The checker is only worth its green if it goes red on a broken build. This consumer acknowledges
// a batch whose transaction failed (FAULT_ACK_UNCOMMITTED, the effect of acknowledging before
// COMMIT): with PostgreSQL killed and paused under load, the run must name the lost votes.
const out = mkdtempSync(path.join(tmpdir(), 'lv-nemesis-broken-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));
const schedule = { seconds: 25, seed: 20261207, mode: 'single', rate: 150, kinds: ['kill-postgres', 'pause-postgres', 'postgres-read-only'], log: () => {} } as const;

it('the same schedule on the real build: no violation', async () => {
  const { report } = await runNemesis({ ...schedule, outDir: path.join(out, 'real') });
  expect(report.violations).toEqual([]);
  expect(report.votes.accepted).toBeGreaterThan(0);
});

it('a consumer that acknowledges before COMMIT is caught: votes answered 202 are named as lost, with the seed and the PostgreSQL fault', async () => {
  const { report } = await runNemesis({ ...schedule, outDir: out, consumerEnv: { FAULT_ACK_UNCOMMITTED: '1' } });
  const lost = report.violations.filter((v) => v.kind === 'lost');
  expect(report.passed).toBe(false);
  expect(lost.length, JSON.stringify(report.votes)).toBeGreaterThan(0);
  expect(lost[0]!.message).toMatch(/answered 202 .* is not counted \[seed 20261207\]/);
  expect(lost.some((v) => v.faults.some((f) => /postgres/.test(f)))).toBe(true);
  // The report an operator reads says so too.
  const json = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as { passed: boolean; violations: unknown[] };
  expect(json.passed).toBe(false);
  expect(json.violations.length).toBe(report.violations.length);
  expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('violations</span>');
});
