/**
 * The host routes a scenario drives (POST /api/host/rounds, GET /api/host/rounds), with the
 * host's token as `Authorization: Bearer`, and the checks that say whether an answer is right.
 */
import http from 'k6/http';
import { check, fail } from 'k6';

export interface RoundSummary {
  round: number;
  cats: number;
  dogs: number;
  total: number;
}

const CREATED = http.expectedStatuses(201);
const READ_OK = http.expectedStatuses(200);

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function headers(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json' };
}

function body(res: { body: unknown }): unknown {
  try {
    return typeof res.body === 'string' && res.body !== '' ? JSON.parse(res.body) : undefined;
  } catch {
    return undefined;
  }
}

/** The host token from HOST_TOKEN, or a stop naming the variable (the server's own HOST_TOKEN; npm start prints its host link with it). */
export function hostToken(): string {
  const token = (__ENV.HOST_TOKEN ?? '').trim();
  if (token.length < 16) fail('HOST_TOKEN must be the server\'s host token (at least 16 characters; npm start prints it in the host link, the chart keeps it in its Secret, key host-token)');
  return token;
}

/** POST /api/host/rounds: a new round, open, from zero. Returns its number, or null (and a failed check). */
export function startRound(base: string, token: string, tags: Record<string, string> = {}): number | null {
  const res = http.post(`${base}/api/host/rounds`, '{}', { headers: headers(token), tags: { name: 'POST /api/host/rounds', ...tags }, responseCallback: CREATED });
  const round = (body(res) as { round?: unknown } | undefined)?.round;
  const ok = check(res, {
    'new round: 201': (r) => r.status === 201,
    'new round: {round} with its number': () => isCount(round) && round > 0,
  });
  if (res.status === 401) fail(`POST ${base}/api/host/rounds answered 401: HOST_TOKEN is not the server's host token`);
  return ok ? (round as number) : null;
}

/** GET /api/host/rounds: every round with its numbers; null (and a failed check) when the answer is not that. */
export function listRounds(base: string, token: string, tags: Record<string, string> = {}): RoundSummary[] | null {
  const res = http.get(`${base}/api/host/rounds`, { headers: headers(token), tags: { name: 'GET /api/host/rounds', ...tags }, responseCallback: READ_OK });
  const rounds = (body(res) as { rounds?: unknown } | undefined)?.rounds;
  const valid =
    res.status === 200 &&
    Array.isArray(rounds) &&
    rounds.every((r: Record<string, unknown>) => isCount(r.round) && isCount(r.cats) && isCount(r.dogs) && isCount(r.total) && r.cats + r.dogs === r.total);
  check(res, {
    'rounds: 200': (r) => r.status === 200,
    'rounds: every round with cats + dogs = total': () => valid,
  });
  if (!valid) return null;
  return (rounds as RoundSummary[]).map((r) => ({ round: r.round, cats: r.cats, dogs: r.dogs, total: r.total }));
}
