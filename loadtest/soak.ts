/**
 * soak: a constant rate of votes for a long time, with a slow reader of the results, watching
 * for errors and for latency that drifts upward (a leak, a growing table, an untrimmed stream).
 * Latency is tagged early (first fifth of the run), mid, or late (last fifth), with the same
 * threshold on early and late; the summary prints the late/early p95 ratio.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:3000 -e DURATION=2h -e RATE=300 soak.ts
 *
 * Tuning: RATE (200/s), DURATION (30m), READ_RATE (2/s), PRE_VUS (20), MAX_VUS (200),
 * VOTE_P95_MS (150), MAX_ERROR_RATE (0.001), MAX_DRIFT (2: late p95 at most twice early p95,
 * reported in the summary), DRAIN_TIMEOUT (60s), SUMMARY_DIR (results).
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { castVote, getResults, optionFor, type Results, beginRun, type SetupData } from './lib/api.ts';
import { baseUrl, durationMs, int, k6Duration, num } from './lib/config.ts';
import { waitForDrain } from './lib/drain.ts';
import { summaryHandler, type SummaryData } from './lib/summary.ts';

const BASE_URL = baseUrl();
const RATE = int('RATE', 200, 1);
const DURATION_MS = durationMs('DURATION', '30m');
const READ_RATE = int('READ_RATE', 2, 1);
const PRE_VUS = int('PRE_VUS', 20, 1);
const MAX_VUS = int('MAX_VUS', 200, 1);
const VOTE_P95_MS = num('VOTE_P95_MS', 150, { min: 1 });
const MAX_ERROR_RATE = num('MAX_ERROR_RATE', 0.001, { min: 0, max: 1 });
const MAX_DRIFT = num('MAX_DRIFT', 2, { min: 1 });
const DRAIN_TIMEOUT_MS = durationMs('DRAIN_TIMEOUT', '60s');

const votesAccepted = new Counter('votes_accepted');
const voteOk = new Rate('vote_ok');
const voteLatency = new Trend('vote_latency', true);
const tallyRegressions = new Counter('tally_regressions');
const drainTime = new Trend('drain_time', true);

export const options: Options = {
  scenarios: {
    votes: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: k6Duration(DURATION_MS),
      preAllocatedVUs: PRE_VUS,
      maxVUs: MAX_VUS,
      exec: 'vote',
    },
    reads: {
      executor: 'constant-arrival-rate',
      rate: READ_RATE,
      timeUnit: '1s',
      duration: k6Duration(DURATION_MS),
      preAllocatedVUs: 2,
      maxVUs: 10,
      exec: 'read',
    },
  },
  thresholds: {
    http_req_failed: [`rate<${MAX_ERROR_RATE}`],
    vote_ok: [`rate>${1 - MAX_ERROR_RATE}`],
    'vote_latency{phase:early}': [`p(95)<${VOTE_P95_MS}`],
    'vote_latency{phase:late}': [`p(95)<${VOTE_P95_MS}`],
    tally_regressions: ['count==0'],
    dropped_iterations: ['count==0'],
  },
  setupTimeout: '30s',
  teardownTimeout: k6Duration(DRAIN_TIMEOUT_MS + 30_000),
};

export function setup(): SetupData {
  return beginRun(BASE_URL, `soak: ${RATE} votes/s for ${DURATION_MS / 1000}s`);
}

function phase(): 'early' | 'mid' | 'late' {
  const elapsed = exec.instance.currentTestRunDuration;
  if (elapsed < DURATION_MS * 0.2) return 'early';
  if (elapsed > DURATION_MS * 0.8) return 'late';
  return 'mid';
}

export function vote(): void {
  const tags = { phase: phase() };
  const outcome = castVote(BASE_URL, optionFor(exec.scenario.iterationInTest), { tags });
  voteLatency.add(outcome.duration, tags);
  voteOk.add(outcome.accepted, tags);
  if (outcome.accepted) votesAccepted.add(1, tags);
}

/** A reader VU keeps the last tally it saw: tallies only ever grow. */
let lastSeen: Results | null = null;

export function read(): void {
  const results = getResults(BASE_URL, { phase: phase() });
  if (results === null) return;
  const monotonic = lastSeen === null || (results.seq >= lastSeen.seq && results.total >= lastSeen.total);
  if (!monotonic) tallyRegressions.add(1);
  check(results, { 'results: tallies never go back': () => monotonic });
  lastSeen = results;
}

export function teardown(data: SetupData): void {
  const { ms, after } = waitForDrain(BASE_URL, data.runId, 'soak', DRAIN_TIMEOUT_MS);
  drainTime.add(ms, { phase: 'teardown' });
  const rise = after.total - data.before.total;
  console.log(`soak: backlog drained ${ms} ms after the last vote; tallies rose by ${rise} (this includes the marker vote)`);
}

export const handleSummary = summaryHandler('soak', (data: SummaryData) => {
  const early = data.metrics['vote_latency{phase:early}']?.values['p(95)'];
  const late = data.metrics['vote_latency{phase:late}']?.values['p(95)'];
  if (early === undefined || late === undefined || early <= 0) return ['drift: not enough samples to compare early and late latency'];
  const ratio = late / early;
  return [
    `drift: vote p95 early ${early.toFixed(1)}ms, late ${late.toFixed(1)}ms, ratio ${ratio.toFixed(2)} ` +
      `(${ratio <= MAX_DRIFT ? 'ok' : `DRIFT above ${MAX_DRIFT}`})`,
  ];
});
