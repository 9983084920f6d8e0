/**
 * rounds: votes pour in while the host starts new rounds, and the promise that a vote answered 202
 * counts exactly once, in the round that was open when it was accepted. setup() starts a fresh
 * round; the `host` scenario starts ROUNDS more during the run; teardown waits until the rounds of
 * the run hold as many votes as were accepted, then checks, round by round and option by option,
 * that each round's numbers are exactly the votes whose status names that round.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:3000 -e HOST_TOKEN=<the host token> rounds.ts
 *
 * Tuning (all optional): VUS (4), VOTES (400), ROUNDS (3), DURATION (30s), COUNT_TIMEOUT (30s),
 * SUMMARY_DIR (results). The target must take no other votes and no other host's rounds meanwhile.
 */
import { check, fail, sleep } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
import type { Options } from 'k6/options';
import { assertReady, castVote, newRunId, optionFor, voteKey, waitCounted } from './lib/api.ts';
import { baseUrl, durationMs, int, k6Duration } from './lib/config.ts';
import { pollUntil } from './lib/drain.ts';
import { hostToken, listRounds, startRound, type RoundSummary } from './lib/host-api.ts';
import { summaryHandler, type SummaryData } from './lib/summary.ts';

const BASE_URL = baseUrl();
const TOKEN = hostToken();
const VUS = int('VUS', 4, 1, 100);
const ITERATIONS = Math.ceil(int('VOTES', 400, 1, 100_000) / VUS);
/** Every voter iteration casts exactly one vote, so the run casts exactly this many. */
const VOTES = VUS * ITERATIONS;
/** New rounds the host starts during the run (after the one setup() starts). */
const ROUNDS = int('ROUNDS', 3, 1, 100);
const DURATION_MS = durationMs('DURATION', '30s');
const PACE_MS = DURATION_MS / ITERATIONS;
const COUNT_TIMEOUT_MS = durationMs('COUNT_TIMEOUT', '30s');

const votesAccepted = new Counter('votes_accepted');
const roundsStarted = new Counter('rounds_started');

export const options: Options = {
  scenarios: {
    voters: { executor: 'per-vu-iterations', exec: 'vote', vus: VUS, iterations: ITERATIONS, maxDuration: k6Duration(DURATION_MS * 2 + 30_000) },
    // One host, a new round every DURATION / (ROUNDS + 1), so rounds change while votes are in flight.
    host: { executor: 'per-vu-iterations', exec: 'host', vus: 1, iterations: ROUNDS, maxDuration: k6Duration(DURATION_MS * 2 + 30_000) },
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    checks: ['rate==1'],
    votes_accepted: [`count==${VOTES}`],
    rounds_started: [`count==${ROUNDS}`],
  },
  setupTimeout: '30s',
  teardownTimeout: k6Duration(COUNT_TIMEOUT_MS + VOTES * 200 + 30_000),
};

interface RoundsSetup {
  runId: string;
  /** The round setup() started: the run's votes count in it or in a later one. */
  first: number;
}

export function setup(): RoundsSetup {
  assertReady(BASE_URL);
  const first = startRound(BASE_URL, TOKEN, { phase: 'setup' });
  if (first === null) fail(`POST ${BASE_URL}/api/host/rounds did not start a round`);
  console.log(`rounds: ${VOTES} votes by ${VUS} VUs over ~${DURATION_MS / 1000}s while the host starts ${ROUNDS} rounds after round ${first}, against ${BASE_URL}`);
  return { runId: newRunId(), first };
}

export function vote(data: RoundsSetup): void {
  const started = Date.now();
  const n = exec.scenario.iterationInTest;
  const outcome = castVote(BASE_URL, optionFor(n), { key: voteKey('rounds', data.runId, n), retries: 2 });
  if (outcome.accepted) votesAccepted.add(1);
  sleep(Math.max(0, PACE_MS - (Date.now() - started)) / 1000);
}

export function host(): void {
  sleep(DURATION_MS / (ROUNDS + 1) / 1000);
  if (startRound(BASE_URL, TOKEN) !== null) roundsStarted.add(1);
}

type Counts = { cats: number; dogs: number; total: number };
const zero = (): Counts => ({ cats: 0, dogs: 0, total: 0 });

/**
 * Waits until the run's rounds hold as many votes as were cast, then checks each round's numbers
 * against the votes whose status names it. Throws otherwise, which makes k6 exit non-zero.
 */
export function teardown(data: RoundsSetup): void {
  const started = Date.now();
  const ofRun = (rounds: RoundSummary[]) => rounds.filter((r) => r.round >= data.first);
  const seen: { last: RoundSummary[] | null } = { last: null };
  const reached = pollUntil(COUNT_TIMEOUT_MS, 200, () => {
    const rounds = listRounds(BASE_URL, TOKEN, { phase: 'teardown' });
    seen.last = rounds ?? seen.last;
    return rounds !== null && ofRun(rounds).reduce((n, r) => n + r.total, 0) >= VOTES ? ofRun(rounds) : undefined;
  });
  if (reached === undefined) {
    const got = seen.last === null ? 'no valid round list' : JSON.stringify(ofRun(seen.last));
    fail(`exactly-once across rounds: after ${COUNT_TIMEOUT_MS} ms the run's rounds hold ${got}, expected ${VOTES} votes in all`);
  }

  // What each vote's status says: counted, and in which round.
  const want = new Map<number, Counts>();
  const misplaced: string[] = [];
  const deadline = Date.now() + COUNT_TIMEOUT_MS;
  for (let n = 0; n < VOTES; n++) {
    const key = voteKey('rounds', data.runId, n);
    const status = waitCounted(BASE_URL, key, deadline, { phase: 'teardown' });
    if (!status?.counted || status.round === undefined || status.round < data.first) {
      misplaced.push(`${key}: ${JSON.stringify(status)}`);
      continue;
    }
    const c = want.get(status.round) ?? zero();
    c[optionFor(n)] += 1;
    c.total += 1;
    want.set(status.round, c);
  }
  const rounds = ofRun(listRounds(BASE_URL, TOKEN, { phase: 'teardown' }) ?? reached);
  const wrong = rounds.filter((r) => {
    const w = want.get(r.round) ?? zero();
    return r.cats !== w.cats || r.dogs !== w.dogs || r.total !== w.total;
  });
  const total = rounds.reduce((n, r) => n + r.total, 0);
  const startedRounds = rounds.length - 1;
  check(rounds, {
    'exactly-once across rounds: every vote counted, in a round of this run': () => misplaced.length === 0,
    'exactly-once across rounds: each round holds exactly the votes that name it': () => wrong.length === 0,
    'exactly-once across rounds: the rounds add up to the votes taken': () => total === VOTES,
    'rounds: the host started every round it was asked to': () => startedRounds === ROUNDS,
  });
  if (misplaced.length > 0 || wrong.length > 0 || total !== VOTES) {
    fail(
      `exactly-once across rounds: the run's rounds hold ${total} of ${VOTES} votes; ` +
        `${misplaced.length} votes not counted in a round of this run${misplaced.length ? ` (first: ${misplaced.slice(0, 2).join('; ')})` : ''}; ` +
        `rounds whose numbers differ from their votes: ${JSON.stringify(wrong.map((r) => ({ ...r, expected: want.get(r.round) ?? zero() })))}`,
    );
  }
  const spread = rounds.map((r) => `round ${r.round}: ${r.total}`).join(', ');
  console.log(`rounds: ${VOTES} votes counted exactly once across ${rounds.length} rounds (${spread}) within ${Date.now() - started} ms of the last vote`);
}

export const handleSummary = summaryHandler('rounds', (data: SummaryData) => {
  const accepted = data.metrics.votes_accepted?.values.count ?? 0;
  const started = data.metrics.rounds_started?.values.count ?? 0;
  return [`exactly-once across rounds: ${accepted} of ${VOTES} planned votes got 202 while the host started ${started} of ${ROUNDS} rounds; teardown matched every round's numbers with the votes that name it.`];
});
