/**
 * watchers: many screens hold /api/stream open while votes arrive, and each measures how long
 * its own vote takes to show up on its screen (vote_to_screen): from sending POST /api/vote
 * to receiving the first `tally` frame whose seq includes that vote (GET /api/vote/:id says in
 * which seq it was counted). That is the voter's experience, fan-out to every watcher included.
 *
 * k6 has no SSE client: build k6 with the xk6-sse extension (see README.md), then
 *
 *   ./k6 run -e BASE_URL=http://127.0.0.1:3000 -e WATCHERS=1000 watchers.ts
 *
 * Tuning: WATCHERS (200), RAMP (30s), STEADY (60s), HOLD (20s per connection), VOTE_RATE
 * (50/s background votes), PROBE_EVERY (1: every watcher votes once per connection; 10: every
 * tenth), V2S_P95_MS (500), V2S_P99_MS (1000), FIRST_FRAME_P95_MS (1000), FRAME_WAIT (30s),
 * DRAIN_TIMEOUT (60s), SUMMARY_DIR (results). Spread many watchers over several source
 * addresses with k6's --local-ips (e.g. --local-ips=127.0.0.2-127.0.0.20).
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import sse from 'k6/x/sse';
import { castVote, getVoteStatus, optionFor, parseResults, voteKey, beginRun, type SetupData } from './lib/api.ts';
import { baseUrl, durationMs, int, k6Duration, num } from './lib/config.ts';
import { waitForDrain } from './lib/drain.ts';
import { summaryHandler } from './lib/summary.ts';

const BASE_URL = baseUrl();
const WATCHERS = int('WATCHERS', 200, 1);
const RAMP_MS = durationMs('RAMP', '30s');
const STEADY_MS = durationMs('STEADY', '60s');
const HOLD_MS = durationMs('HOLD', '20s');
const VOTE_RATE = int('VOTE_RATE', 50, 1);
const PROBE_EVERY = int('PROBE_EVERY', 1, 1);
const V2S_P95_MS = num('V2S_P95_MS', 500, { min: 1 });
const V2S_P99_MS = num('V2S_P99_MS', 1000, { min: 1 });
const FIRST_FRAME_P95_MS = num('FIRST_FRAME_P95_MS', 1000, { min: 1 });
/** How long a watcher waits past HOLD for its vote to show before it gives up on it. */
const FRAME_WAIT_MS = durationMs('FRAME_WAIT', '30s');
const DRAIN_TIMEOUT_MS = durationMs('DRAIN_TIMEOUT', '60s');

const voteToScreen = new Trend('vote_to_screen', true);
const firstFrame = new Trend('first_frame', true);
const framesReceived = new Counter('tally_frames');
const framesValid = new Rate('tally_frame_valid');
const seqRegressions = new Counter('seq_regressions');
const voteNeverShown = new Counter('vote_never_shown');
const streamErrors = new Counter('stream_errors');
const voteLatency = new Trend('vote_latency', true);

const TOTAL_MS = RAMP_MS + STEADY_MS;

export const options: Options = {
  scenarios: {
    watchers: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { target: WATCHERS, duration: k6Duration(RAMP_MS) },
        { target: WATCHERS, duration: k6Duration(STEADY_MS) },
      ],
      // Let an open connection finish its hold (and its vote) instead of cutting it.
      gracefulRampDown: k6Duration(HOLD_MS + FRAME_WAIT_MS),
      gracefulStop: k6Duration(HOLD_MS + FRAME_WAIT_MS),
      exec: 'watch',
    },
    voters: {
      executor: 'constant-arrival-rate',
      rate: VOTE_RATE,
      timeUnit: '1s',
      duration: k6Duration(TOTAL_MS),
      preAllocatedVUs: 10,
      maxVUs: 100,
      exec: 'vote',
    },
  },
  thresholds: {
    vote_to_screen: [`p(95)<${V2S_P95_MS}`, `p(99)<${V2S_P99_MS}`],
    first_frame: [`p(95)<${FIRST_FRAME_P95_MS}`],
    tally_frame_valid: ['rate==1'],
    seq_regressions: ['count==0'],
    vote_never_shown: ['count==0'],
    stream_errors: ['count==0'],
    checks: ['rate>0.99'],
    'http_req_failed{name:POST /api/vote}': ['rate<0.01'],
  },
  setupTimeout: '30s',
  teardownTimeout: k6Duration(DRAIN_TIMEOUT_MS + 30_000),
};

export function setup(): SetupData {
  return beginRun(BASE_URL, `watchers: ${WATCHERS} watchers (ramp ${RAMP_MS} ms, steady ${STEADY_MS} ms), ${VOTE_RATE} votes/s`);
}

/**
 * One connection: take the first frame (sent at once on connect), cast a vote, wait for the
 * frame that includes it, keep watching until HOLD has passed, then close.
 */
export function watch(data: SetupData): void {
  const probe = exec.vu.idInTest % PROBE_EVERY === 0;
  const opened = Date.now();
  const holdUntil = opened + HOLD_MS;
  const giveUpAt = holdUntil + FRAME_WAIT_MS;
  let frames = 0;
  let lastSeq = -1;
  let pending: { key: string; sentAt: number } | null = null;
  let shown = !probe;

  const response = sse.open(
    `${BASE_URL}/api/stream`,
    { headers: { Accept: 'text/event-stream' }, tags: { name: 'GET /api/stream' } },
    (client) => {
      client.on('event', (event) => {
        const now = Date.now();
        if (event.name === 'tally') {
          framesReceived.add(1);
          const tally = parseResults(event.data);
          const valid = tally !== null && event.id === String(tally.seq);
          framesValid.add(valid);
          check(event, { 'stream: tally frame is a valid tally with id = seq': () => valid });
          if (tally !== null) {
            if (tally.seq < lastSeq) seqRegressions.add(1);
            lastSeq = Math.max(lastSeq, tally.seq);
          }
          frames += 1;
          if (frames === 1) {
            firstFrame.add(now - opened);
            if (probe) {
              const key = voteKey('watch', data.runId, exec.scenario.iterationInTest);
              const sentAt = Date.now();
              const vote = castVote(BASE_URL, optionFor(exec.vu.idInTest), { key, tags: { scenario_role: 'watcher' } });
              if (vote.accepted) pending = { key, sentAt };
              else shown = true; // nothing to wait for; the failed vote is already counted as such
            }
          } else if (pending !== null && tally !== null) {
            const status = getVoteStatus(BASE_URL, pending.key);
            if (status?.counted && (status.seq as number) <= tally.seq) {
              voteToScreen.add(now - pending.sentAt);
              pending = null;
              shown = true;
            }
          }
        }
        // Tally frames and heartbeats both come through here: the moment to decide to leave.
        const t = Date.now();
        if (t >= giveUpAt || (t >= holdUntil && shown && frames >= 1)) client.close();
      });
      client.on('error', (e) => {
        streamErrors.add(1);
        console.error(`stream error: ${e.error()}`);
        client.close();
      });
    },
  );
  if (!shown) voteNeverShown.add(1);
  check(response, {
    'stream: 200 text/event-stream': (r) => r.status === 200 && /text\/event-stream/.test(r.headers['Content-Type'] ?? ''),
    'stream: got the current tally at once': () => frames >= 1,
  });
}

/** Background votes: the audience voting while the screens watch. */
export function vote(): void {
  const outcome = castVote(BASE_URL, optionFor(exec.scenario.iterationInTest));
  voteLatency.add(outcome.duration);
}

export function teardown(data: SetupData): void {
  const { ms } = waitForDrain(BASE_URL, data.runId, 'watchers', DRAIN_TIMEOUT_MS);
  console.log(`watchers: backlog drained ${ms} ms after the last vote`);
}

export const handleSummary = summaryHandler('watchers', () => [
  `vote_to_screen is measured per watcher from POST /api/vote to the first frame whose seq includes it.`,
  `Reference floor on one 2-core box: the last of 10,000 co-located watchers gets a frame 150-174 ms after the first (1,000: 19-32 ms).`,
]);
