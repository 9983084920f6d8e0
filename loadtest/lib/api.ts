/**
 * The calls every scenario makes against the live-vote HTTP API, with the checks that say
 * whether an answer is right. Request names are fixed so that metrics group by route, not URL.
 */
import http from 'k6/http';
import type { RefinedResponse, ResponseType } from 'k6/http';
import { check, fail, sleep } from 'k6';

export const VOTE_OPTIONS = ['cats', 'dogs'] as const;
export type VoteOption = (typeof VOTE_OPTIONS)[number];

export interface Results {
  cats: number;
  dogs: number;
  total: number;
  seq: number;
  updatedAt: string;
}

export interface VoteStatus {
  id: string;
  counted: boolean;
  seq?: number;
  /** The round the vote counts in; present once counted. */
  round?: number;
}

export type Response = RefinedResponse<ResponseType | undefined>;

const KEY_PATTERN = /^[A-Za-z0-9_.:-]{8,128}$/;
const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json' };
/** Only a 202 is a vote taken; everything else counts in http_req_failed. */
const VOTE_OK = http.expectedStatuses(202);
const READ_OK = http.expectedStatuses(200);

function jsonBody(res: Response): unknown {
  try {
    return typeof res.body === 'string' && res.body !== '' ? JSON.parse(res.body) : undefined;
  } catch {
    return undefined;
  }
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

/** The shape every `/api/results` answer and every SSE `tally` frame must have. */
export function asResults(v: unknown): Results | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  if (!isCount(r.cats) || !isCount(r.dogs) || !isCount(r.total) || !isCount(r.seq)) return null;
  if (typeof r.updatedAt !== 'string' || Number.isNaN(Date.parse(r.updatedAt))) return null;
  if (r.cats + r.dogs !== r.total) return null;
  return { cats: r.cats, dogs: r.dogs, total: r.total, seq: r.seq, updatedAt: r.updatedAt };
}

export function parseResults(text: string): Results | null {
  try {
    return asResults(JSON.parse(text));
  } catch {
    return null;
  }
}

export function optionFor(n: number): VoteOption {
  return VOTE_OPTIONS[Math.abs(n) % 2] as VoteOption;
}

/** A fresh run identifier for idempotency keys: short, unique enough, key-safe. */
export function newRunId(): string {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, '0')}`;
}

export function voteKey(prefix: string, runId: string, n: number): string {
  const key = `lt-${prefix}-${runId}-${n}`;
  if (!KEY_PATTERN.test(key)) throw new Error(`bad idempotency key ${key}`);
  return key;
}

export interface VoteOutcome {
  res: Response;
  accepted: boolean;
  id: string | undefined;
  /** Milliseconds from sending to the answer of the last attempt. */
  duration: number;
  attempts: number;
}

/**
 * POST /api/vote. With a key, an ambiguous failure (no answer, 5xx, including 504 "outcome
 * unknown") is retried with the same key, as a careful client would: the API's idempotency makes
 * that safe, and it keeps the count of votes taken exact. Without a key nothing is retried: a
 * 504 may still be counted (a 503 would be safe to retry, but no script needs that).
 */
export function castVote(
  base: string,
  option: VoteOption,
  opts: { key?: string; retries?: number; tags?: Record<string, string> } = {},
): VoteOutcome {
  const headers: Record<string, string> = { ...JSON_HEADERS };
  if (opts.key !== undefined) headers['Idempotency-Key'] = opts.key;
  const retries = opts.key === undefined ? 0 : (opts.retries ?? 0);
  let attempts = 0;
  let res: Response;
  for (;;) {
    attempts += 1;
    res = http.post(`${base}/api/vote`, JSON.stringify({ option }), {
      headers,
      tags: { name: 'POST /api/vote', ...opts.tags },
      responseCallback: VOTE_OK,
      timeout: '10s',
    });
    const ambiguous = res.status === 0 || res.status >= 500;
    if (!ambiguous || attempts > retries) break;
    const retryAfter = Number(res.headers['Retry-After']);
    sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 5) : 0.5);
  }
  const body = jsonBody(res) as { id?: unknown } | undefined;
  const id = typeof body?.id === 'string' ? body.id : undefined;
  const accepted = check(res, {
    'vote: 202 Accepted': (r) => r.status === 202,
    'vote: answer carries the vote id': () => id !== undefined && (opts.key === undefined || id === opts.key),
  });
  return { res, accepted: accepted && res.status === 202, id, duration: res.timings.duration, attempts };
}

/** GET /api/results; null (and failed checks) when the answer is not a valid tally. */
export function getResults(base: string, tags: Record<string, string> = {}): Results | null {
  const res = http.get(`${base}/api/results`, {
    headers: { Accept: 'application/json' },
    tags: { name: 'GET /api/results', ...tags },
    responseCallback: READ_OK,
  });
  const results = res.status === 200 ? asResults(jsonBody(res)) : null;
  check(res, {
    'results: 200': (r) => r.status === 200,
    'results: cats + dogs = total, seq and updatedAt present': () => results !== null,
  });
  return results;
}

/** GET /api/vote/:id; null (and failed checks) when the answer is not a valid status. */
export function getVoteStatus(base: string, id: string, tags: Record<string, string> = {}): VoteStatus | null {
  const res = http.get(`${base}/api/vote/${encodeURIComponent(id)}`, {
    headers: { Accept: 'application/json' },
    tags: { name: 'GET /api/vote/:id', ...tags },
    responseCallback: READ_OK,
  });
  const body = jsonBody(res) as Record<string, unknown> | undefined;
  const valid =
    res.status === 200 &&
    body !== undefined &&
    body.id === id &&
    typeof body.counted === 'boolean' &&
    (body.counted ? isCount(body.seq) && isCount(body.round) && body.round > 0 : body.seq === undefined && body.round === undefined);
  check(res, {
    'vote status: 200': (r) => r.status === 200,
    'vote status: {id, counted[, seq, round]} for this id': () => valid,
  });
  if (!valid || body === undefined) return null;
  return body.counted ? { id, counted: true, seq: body.seq as number, round: body.round as number } : { id, counted: false };
}

/**
 * GET /api/vote/:id until it says counted, or until `deadline` (epoch ms): vote status may come
 * from a read replica (DATABASE_READ_URL) that is a moment behind the tallies, so one read that
 * says "not counted" proves nothing. Returns the last status read.
 */
export function waitCounted(base: string, id: string, deadline: number, tags: Record<string, string> = {}): VoteStatus | null {
  for (;;) {
    const status = getVoteStatus(base, id, tags);
    if (status?.counted || Date.now() >= deadline) return status;
    sleep(0.1);
  }
}

/** Fails unless the target says it is ready; run from setup() so a wrong BASE_URL stops at once. */
export function assertReady(base: string): void {
  const res = http.get(`${base}/readyz`, { tags: { name: 'GET /readyz' }, responseCallback: READ_OK, timeout: '10s' });
  if (res.status !== 200) {
    throw new Error(
      `${base} is not ready: GET /readyz answered ${res.status}${res.error ? ` (${res.error})` : ''}. ` +
        'Start the stack (npm start) or point BASE_URL at it.',
    );
  }
}

/** What every script's setup() hands to its scenarios and teardown. */
export interface SetupData {
  runId: string;
  before: Results;
}

/** The common setup(): the target is ready, and the tallies the run starts from. */
export function beginRun(base: string, description: string): SetupData {
  assertReady(base);
  const before = getResults(base, { phase: 'setup' });
  if (before === null) fail(`GET ${base}/api/results did not answer a valid tally`);
  console.log(`${description} against ${base}; tallies start at ${JSON.stringify(before)}`);
  return { runId: newRunId(), before };
}
