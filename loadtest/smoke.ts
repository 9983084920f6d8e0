/**
 * smoke: the CI scenario. About 30 s at a low rate of votes, each followed by a read of the
 * results, and one promise checked end to end: the tallies rise by exactly the number of votes
 * the API accepted (202), no more (a vote counted twice) and no fewer (a vote lost).
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:3000 smoke.ts
 *
 * Tuning (all optional): VUS (2), VOTES (150), DURATION (30s), VOTE_P95_MS (100),
 * COUNT_TIMEOUT (30s), SUMMARY_DIR (results). The target must not take other votes meanwhile.
 */
import { check, fail, sleep } from 'k6';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { castVote, getResults, getVoteStatus, optionFor, voteKey, waitCounted, type Results, beginRun, type SetupData } from './lib/api.ts';
import { baseUrl, durationMs, int, k6Duration, num } from './lib/config.ts';
import { pollUntil } from './lib/drain.ts';
import { summaryHandler, type SummaryData } from './lib/summary.ts';

const BASE_URL = baseUrl();
const VUS = int('VUS', 2, 1, 100);
const ITERATIONS = Math.ceil(int('VOTES', 150, 1, 100_000) / VUS);
/** Every iteration casts exactly one vote, so the run casts exactly this many. */
const VOTES = VUS * ITERATIONS;
const DURATION_MS = durationMs('DURATION', '30s');
/** Each VU paces its iterations so that the run spreads over DURATION. */
const PACE_MS = DURATION_MS / ITERATIONS;
const VOTE_P95_MS = num('VOTE_P95_MS', 100, { min: 1 });
const COUNT_TIMEOUT_MS = durationMs('COUNT_TIMEOUT', '30s');

const votesAccepted = new Counter('votes_accepted');
const voteLatency = new Trend('vote_latency', true);
const countedAfter = new Trend('counted_after', true);

export const options: Options = {
  scenarios: {
    smoke: {
      // A fixed number of iterations (not an arrival rate) so the expected count is exact.
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: ITERATIONS,
      maxDuration: k6Duration(DURATION_MS * 2 + 30_000),
    },
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    checks: ['rate==1'],
    vote_latency: [`p(95)<${VOTE_P95_MS}`],
    'http_req_duration{name:GET /api/results}': ['p(95)<500'],
    // Every planned vote got its 202: with the teardown below this proves exactly-once counting.
    votes_accepted: [`count==${VOTES}`],
  },
  setupTimeout: '30s',
  teardownTimeout: k6Duration(COUNT_TIMEOUT_MS + VOTES * 200 + 30_000),
};

/** Checks the target and reads the tallies the run starts from. */
export function setup(): SetupData {
  return beginRun(BASE_URL, `smoke: ${VOTES} votes by ${VUS} VUs over ~${DURATION_MS / 1000}s`);
}

export default function (data: SetupData): void {
  const started = Date.now();
  const n = exec.scenario.iterationInTest;
  const key = voteKey('smoke', data.runId, n);
  const vote = castVote(BASE_URL, optionFor(n), { key, retries: 2 });
  voteLatency.add(vote.duration);
  if (vote.accepted) votesAccepted.add(1);

  const results = getResults(BASE_URL);
  if (results !== null) {
    check(results, { 'results: never below the starting tallies': (r) => r.total >= data.before.total && r.seq >= data.before.seq });
  }
  if (vote.accepted) {
    // The status route answers at once; it may or may not be counted yet.
    getVoteStatus(BASE_URL, key);
  }
  sleep(Math.max(0, PACE_MS - (Date.now() - started)) / 1000);
}

function expectedRise(): { cats: number; dogs: number; total: number } {
  // optionFor(n) alternates cats, dogs, cats, ... over n = 0 .. VOTES-1.
  const cats = Math.ceil(VOTES / 2);
  return { cats, dogs: VOTES - cats, total: VOTES };
}

/**
 * Waits until the tallies have risen by the number of votes taken, then checks that they rose by
 * exactly that, per option, and that every one of this run's keys is counted. Throws otherwise,
 * which makes k6 exit non-zero.
 */
export function teardown(data: SetupData): void {
  const want = expectedRise();
  const started = Date.now();
  const rise = (r: Results) => ({ cats: r.cats - data.before.cats, dogs: r.dogs - data.before.dogs, total: r.total - data.before.total });
  const seen: { last: Results | null } = { last: null };
  const reached = pollUntil(COUNT_TIMEOUT_MS, 200, () => {
    const r = getResults(BASE_URL, { phase: 'teardown' });
    seen.last = r ?? seen.last;
    return r !== null && r.total - data.before.total >= want.total ? r : undefined;
  });
  if (reached === undefined) {
    const got = seen.last === null ? 'no valid tally' : JSON.stringify(rise(seen.last));
    fail(`exactly-once: after ${COUNT_TIMEOUT_MS} ms the tallies rose by ${got}, expected ${JSON.stringify(want)} (${VOTES} votes planned): votes were lost, the consumer is stuck, or votes were refused (see votes_accepted)`);
  }
  countedAfter.add(Date.now() - started, { phase: 'teardown' });

  // Every vote of this run must be counted, in a tally no older than the one we just read.
  const uncounted: string[] = [];
  const deadline = Date.now() + COUNT_TIMEOUT_MS;
  for (let n = 0; n < VOTES; n++) {
    const key = voteKey('smoke', data.runId, n);
    const status = waitCounted(BASE_URL, key, deadline, { phase: 'teardown' });
    if (!status?.counted || (status.seq ?? Infinity) > reached.seq) uncounted.push(key);
  }
  const after = getResults(BASE_URL, { phase: 'teardown' }) ?? reached;
  const got = rise(after);
  const exact = got.total === want.total && got.cats === want.cats && got.dogs === want.dogs;
  check(got, {
    'exactly-once: tallies rose by exactly the votes taken': () => exact,
    'exactly-once: every vote of this run is counted': () => uncounted.length === 0,
  });
  if (!exact || uncounted.length > 0) {
    fail(
      `exactly-once: tallies rose by ${JSON.stringify(got)}, expected ${JSON.stringify(want)}; ` +
        `${uncounted.length} of this run's ${VOTES} votes not counted${uncounted.length ? ` (first: ${uncounted.slice(0, 3).join(', ')})` : ''}`,
    );
  }
  console.log(`smoke: tallies rose by exactly ${want.total} (${want.cats} cats, ${want.dogs} dogs) within ${Date.now() - started} ms of the last vote`);
}

export const handleSummary = summaryHandler('smoke', (data: SummaryData) => {
  const accepted = data.metrics.votes_accepted?.values.count ?? 0;
  return [`exactly-once: ${accepted} of ${VOTES} planned votes got 202; teardown compared the tallies with that (a teardown failure is printed above and makes k6 exit non-zero).`];
});
