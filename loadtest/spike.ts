/**
 * spike: "the host just said vote now". A calm base rate, then votes ramp within seconds to a
 * peak, hold, and fall back. Passes when errors stay rare and vote latency stays low during the
 * burst, and the consumer works off the backlog afterwards within DRAIN_TIMEOUT.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:3000 -e PEAK_RATE=3000 spike.ts
 *
 * Tuning: BASE_RATE (50/s), PEAK_RATE (2000/s), WARM (10s), RAMP (5s), HOLD (30s), COOL (10s),
 * PRE_VUS (50), MAX_VUS (500), VOTE_P95_MS (250), VOTE_P99_MS (1000), MAX_ERROR_RATE (0.01),
 * DRAIN_TIMEOUT (60s), SUMMARY_DIR (results).
 */
import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { castVote, optionFor, beginRun, type SetupData } from './lib/api.ts';
import { baseUrl, durationMs, int, k6Duration, num } from './lib/config.ts';
import { waitForDrain } from './lib/drain.ts';
import { summaryHandler } from './lib/summary.ts';

const BASE_URL = baseUrl();
const BASE_RATE = int('BASE_RATE', 50, 1);
const PEAK_RATE = int('PEAK_RATE', 2000, 1);
const WARM_MS = durationMs('WARM', '10s');
const RAMP_MS = durationMs('RAMP', '5s');
const HOLD_MS = durationMs('HOLD', '30s');
const COOL_MS = durationMs('COOL', '10s');
const PRE_VUS = int('PRE_VUS', 50, 1);
const MAX_VUS = int('MAX_VUS', 500, 1);
const VOTE_P95_MS = num('VOTE_P95_MS', 250, { min: 1 });
const VOTE_P99_MS = num('VOTE_P99_MS', 1000, { min: 1 });
const MAX_ERROR_RATE = num('MAX_ERROR_RATE', 0.01, { min: 0, max: 1 });
const DRAIN_TIMEOUT_MS = durationMs('DRAIN_TIMEOUT', '60s');

const votesAccepted = new Counter('votes_accepted');
const voteOk = new Rate('vote_ok');
const voteLatency = new Trend('vote_latency', true);
const drainTime = new Trend('drain_time', true);

export const options: Options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: BASE_RATE,
      timeUnit: '1s',
      preAllocatedVUs: PRE_VUS,
      maxVUs: MAX_VUS,
      stages: [
        { target: BASE_RATE, duration: k6Duration(WARM_MS) },
        { target: PEAK_RATE, duration: k6Duration(RAMP_MS) },
        { target: PEAK_RATE, duration: k6Duration(HOLD_MS) },
        { target: BASE_RATE, duration: k6Duration(COOL_MS) },
      ],
      gracefulStop: '10s',
    },
  },
  thresholds: {
    http_req_failed: [`rate<${MAX_ERROR_RATE}`],
    vote_ok: [`rate>${1 - MAX_ERROR_RATE}`],
    vote_latency: [`p(95)<${VOTE_P95_MS}`, `p(99)<${VOTE_P99_MS}`],
    // Iterations k6 could not start (too few VUs) mean the planned load was never applied.
    dropped_iterations: ['count==0'],
  },
  setupTimeout: '30s',
  teardownTimeout: k6Duration(DRAIN_TIMEOUT_MS + 30_000),
};

export function setup(): SetupData {
  return beginRun(BASE_URL, `spike: ${BASE_RATE}/s -> ${PEAK_RATE}/s in ${RAMP_MS} ms, held ${HOLD_MS} ms`);
}

/** One vote, no key: a burst of phones, each tapping once. */
export default function (): void {
  const vote = castVote(BASE_URL, optionFor(exec.scenario.iterationInTest));
  voteLatency.add(vote.duration);
  voteOk.add(vote.accepted);
  if (vote.accepted) votesAccepted.add(1);
}

/** Waits for the consumer to work off the burst; fails the run if it does not. */
export function teardown(data: SetupData): void {
  const { ms, after } = waitForDrain(BASE_URL, data.runId, 'spike', DRAIN_TIMEOUT_MS);
  drainTime.add(ms, { phase: 'teardown' });
  const rise = after.total - data.before.total;
  console.log(`spike: backlog drained ${ms} ms after the last vote; tallies rose by ${rise} (this includes the marker vote)`);
}

export const handleSummary = summaryHandler('spike');
