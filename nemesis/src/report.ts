/**
 * The run's report: `report.json` (faults by kind, votes by outcome, latencies while healthy and
 * while faulted, time to converge, the violations) and a one-page `report.html` with a timeline:
 * faults as bands, answers per second as lines, vote-to-screen latency.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { spans, type CheckResult } from './checker.ts';
import type { Event } from './history.ts';

export interface Report {
  command: string;
  seed: number;
  redis: string;
  seconds: number;
  passed: boolean;
  faults: { total: number; byKind: Record<string, number> };
  votes: CheckResult['votes'];
  latencyMs: { healthy: Percentiles; faulted: Percentiles; voteToScreen: Percentiles };
  convergeMs: { max: number | null; byWatcher: Record<string, number | null> };
  violations: CheckResult['violations'];
  notes: string[];
}

interface Percentiles {
  n: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

function percentiles(values: number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => (s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]!) : null);
  return { n: s.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: s.length ? Math.round(s.at(-1)!) : null };
}

export function writeReport(
  outDir: string,
  events: readonly Event[],
  result: CheckResult,
  meta: { seed: number; mode: string; seconds: number; faultCounts: Record<string, number>; notes: string[] },
): Report {
  const faultSpans = spans(events.filter((e): e is Extract<Event, { type: 'fault' }> => e.type === 'fault'));
  const faultedAt = (t: number) => faultSpans.some((f) => f.start <= t && t <= f.end);
  const votes = events.filter((e): e is Extract<Event, { type: 'vote' }> => e.type === 'vote');
  const healthy: number[] = [];
  const faulted: number[] = [];
  for (const v of votes) (faultedAt(v.t0) ? faulted : healthy).push(v.t1 - v.t0);
  const convergeValues = Object.values(result.convergeMs);
  const report: Report = {
    command: `npm run nemesis -- --seconds ${meta.seconds} --seed ${meta.seed} --redis ${meta.mode}`,
    seed: meta.seed,
    redis: meta.mode,
    seconds: meta.seconds,
    passed: result.violations.length === 0,
    faults: { total: Object.values(meta.faultCounts).reduce((a, b) => a + b, 0), byKind: meta.faultCounts },
    votes: result.votes,
    latencyMs: { healthy: percentiles(healthy), faulted: percentiles(faulted), voteToScreen: percentiles(result.voteToScreen.map((v) => v.ms)) },
    convergeMs: { max: convergeValues.includes(null) || convergeValues.length === 0 ? null : Math.max(...(convergeValues as number[])), byWatcher: result.convergeMs },
    violations: result.violations,
    notes: meta.notes,
  };
  writeFileSync(path.join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(outDir, 'report.html'), html(report, events, faultSpans, result.voteToScreen));
  return report;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function html(report: Report, events: readonly Event[], faultSpans: ReturnType<typeof spans>, voteToScreen: CheckResult['voteToScreen']): string {
  const t0 = events.find((e) => e.type === 'meta')?.t ?? 0;
  const tEnd = events.reduce((m, e) => Math.max(m, 't' in e ? e.t : e.t1), t0);
  const seconds = Math.max(1, Math.ceil((tEnd - t0) / 1000));
  const W = 1100;
  const x = (t: number) => 120 + ((t - t0) / 1000 / seconds) * (W - 140);

  // Answers per second: 202 and 5xx/no answer.
  const ok = new Array<number>(seconds + 1).fill(0);
  const bad = new Array<number>(seconds + 1).fill(0);
  for (const e of events) {
    if (e.type !== 'vote') continue;
    const s = Math.floor((e.t1 - t0) / 1000);
    if (e.status === 202) ok[s]!++;
    else if (e.status >= 500 || e.status === 0) bad[s]!++;
  }
  const lanes = [...new Set(faultSpans.map((f) => f.lane))].sort();
  const bandH = 18;
  const bandsTop = 30;
  const chartTop = bandsTop + (lanes.length + 1) * (bandH + 4) + 30;
  const chartH = 160;
  const maxRate = Math.max(1, ...ok, ...bad);
  const line = (series: number[], top: number, h: number, max: number) =>
    series.map((v, i) => `${i ? 'L' : 'M'}${x(t0 + i * 1000).toFixed(1)},${(top + h - (v / max) * h).toFixed(1)}`).join('');

  // Vote-to-screen p99 per 5 s, by the time of the tap.
  const buckets: number[][] = Array.from({ length: Math.ceil(seconds / 5) + 1 }, () => []);
  for (const v of voteToScreen) buckets[Math.max(0, Math.floor((v.t - t0) / 5000))]?.push(v.ms);
  const slowest = buckets.map((b) => percentiles(b).p99 ?? 0);
  const latTop = chartTop + chartH + 40;
  const maxLat = Math.max(1, ...slowest);
  const colours: Record<string, string> = { redis: '#d9534f', sentinel: '#f0ad4e', postgres: '#5b7fde', consumers: '#8e44ad', servers: '#16a085', 'network-a': '#7f8c8d', 'network-b': '#95a5a6' };
  const bands = faultSpans
    .map((f) => {
      const row = lanes.indexOf(f.lane);
      const x1 = x(f.start);
      const x2 = x(Number.isFinite(f.end) ? f.end : tEnd);
      return `<rect x="${x1.toFixed(1)}" y="${bandsTop + row * (bandH + 4)}" width="${Math.max(2, x2 - x1).toFixed(1)}" height="${bandH}" fill="${colours[f.lane] ?? '#999'}" opacity="0.8"><title>${esc(`${f.kind} on ${f.target}${f.detail ? ` (${f.detail})` : ''}: ${((f.end - f.start) / 1000).toFixed(1)} s`)}</title></rect>`;
    })
    .join('');
  const hostRow = bandsTop + lanes.length * (bandH + 4);
  const hostMarks = events
    .filter((e): e is Extract<Event, { type: 'host' }> => e.type === 'host' && e.status >= 200 && e.status < 300)
    .map((h) => `<rect x="${x(h.t1).toFixed(1)}" y="${hostRow}" width="3" height="${bandH}" fill="${h.action === 'new-round' ? '#000' : h.action === 'close' || h.action === 'open' ? '#e67e22' : '#2980b9'}"><title>host: ${h.action}${h.round ? ` (round ${h.round})` : ''}</title></rect>`)
    .join('');
  const laneLabels = [...lanes, 'host'].map((l, i) => `<text x="4" y="${bandsTop + i * (bandH + 4) + 13}" font-size="12">${esc(l)}</text>`).join('');
  const phases = events
    .filter((e): e is Extract<Event, { type: 'phase' }> => e.type === 'phase' && e.name !== 'running')
    .map((p, i) => `<line x1="${x(p.t)}" x2="${x(p.t)}" y1="20" y2="${latTop + chartH}" stroke="#333" stroke-dasharray="3,3"/><text x="${x(p.t) - 3}" y="${latTop + chartH + 14 + (i % 3) * 11}" font-size="10" text-anchor="end">${p.name}</text>`)
    .join('');
  const height = latTop + chartH + 50;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="sans-serif">
${laneLabels}${bands}${hostMarks}
<text x="4" y="${chartTop - 8}" font-size="12">answers/s (green 202, red 5xx or none), max ${maxRate}</text>
<rect x="120" y="${chartTop}" width="${W - 140}" height="${chartH}" fill="none" stroke="#ccc"/>
<path d="${line(ok, chartTop, chartH, maxRate)}" fill="none" stroke="#27ae60" stroke-width="1.5"/>
<path d="${line(bad, chartTop, chartH, maxRate)}" fill="none" stroke="#c0392b" stroke-width="1.5"/>
<text x="4" y="${latTop - 8}" font-size="12">vote-to-screen p99 per 5 s (ms), max ${Math.round(maxLat)}</text>
<rect x="120" y="${latTop}" width="${W - 140}" height="${chartH}" fill="none" stroke="#ccc"/>
<path d="${slowest.map((v, i) => `${i ? 'L' : 'M'}${x(t0 + i * 5000).toFixed(1)},${(latTop + chartH - (v / maxLat) * chartH).toFixed(1)}`).join('')}" fill="none" stroke="#2c3e50" stroke-width="1.5"/>
${phases}
<text x="120" y="${height - 10}" font-size="11">0 s</text><text x="${W - 60}" y="${height - 10}" font-size="11">${seconds} s</text>
</svg>`;
  const rows = (o: Record<string, unknown>) => Object.entries(o).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(typeof v === 'object' ? JSON.stringify(v) : String(v))}</td></tr>`).join('');
  const l = report.latencyMs;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>live vote nemesis: ${report.passed ? 'passed' : 'FAILED'} (seed ${report.seed}, ${esc(report.redis)})</title>
<style>body{font-family:sans-serif;margin:1.5rem;max-width:1150px}table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;font-size:.9rem}th{background:#f6f6f6}.bad{color:#b00}.ok{color:#070}</style></head>
<body>
<h1>Nemesis run: <span class="${report.passed ? 'ok' : 'bad'}">${report.passed ? 'no violations' : `${report.violations.length} violations`}</span></h1>
<p><code>${esc(report.command)}</code> — Redis ${esc(report.redis)}, ${report.seconds} s of faults, ${report.faults.total} faults injected.</p>
${svg}
<h2>Votes</h2><table>${rows(report.votes as unknown as Record<string, unknown>)}</table>
<h2>Latency (ms)</h2><table><tr><th></th><th>n</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>
${(['healthy', 'faulted', 'voteToScreen'] as const).map((k) => `<tr><th>${k === 'voteToScreen' ? 'vote to screen' : `vote answer, ${k}`}</th><td>${l[k].n}</td><td>${l[k].p50}</td><td>${l[k].p95}</td><td>${l[k].p99}</td><td>${l[k].max}</td></tr>`).join('')}</table>
<h2>Faults by kind</h2><table>${rows(report.faults.byKind)}</table>
<h2>Convergence after healing (ms)</h2><table>${rows(report.convergeMs.byWatcher)}</table>
<h2>Violations</h2>${report.violations.length ? `<table><tr><th>kind</th><th>what</th><th>faults active</th></tr>${report.violations.map((v) => `<tr><td class="bad">${v.kind}</td><td>${esc(v.message)}</td><td>${esc(v.faults.join('; ') || 'none')}</td></tr>`).join('')}</table>` : '<p class="ok">none</p>'}
${report.notes.length ? `<h2>Notes</h2><ul>${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
</body></html>
`;
}
