/**
 * Every request the client makes to the API lives here (the shape of realworld's `lib/api.js`):
 * the paths come from the contract's `ROUTES`, and each call is one small function that the rest
 * of the client uses instead of calling `fetch` or `new EventSource` itself.
 *
 * Browser-safe: no Node-only import and no private environment. In the browser every call is
 * same-origin (`baseUrl` ''); the server-side first paint passes the base URL that
 * `lib/server/api.ts` picks (it needs `$app/env/private`, which SvelteKit keeps out of the browser).
 */
import { ROUTES, SSE_EVENT_TALLY } from '@livevote/contract/constants';
import { parseTally, type Tally, type VoteOption } from './tally.ts';

/** The API paths the client uses, all from the contract. */
export const API = {
  vote: ROUTES.vote,
  voteStatus: (id: string) => ROUTES.voteStatus.replace(':id', encodeURIComponent(id)),
  results: ROUTES.results,
  stream: ROUTES.stream,
  watchers: ROUTES.watchers,
  /** The SSE event name of a tally frame on `stream`. */
  tallyEvent: SSE_EVENT_TALLY,
} as const;

export interface RequestOptions {
  /** Origin to send to; '' (default) means the page's own origin. */
  baseUrl?: string;
  /** A fetch to use instead of the global one (tests). */
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

const globalFetch: typeof fetch = (input, init) => globalThis.fetch(input, init);

/** `POST /api/vote` once, with this Idempotency-Key. The caller reads the status (vote-sender.ts retries). */
export function postVote(option: VoteOption, idempotencyKey: string, options: RequestOptions = {}): Promise<Response> {
  return (options.fetch ?? globalFetch)(`${options.baseUrl ?? ''}${API.vote}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey, accept: 'application/json' },
    body: JSON.stringify({ option }),
    credentials: 'same-origin',
    cache: 'no-store',
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

export interface VoteStatusAnswer {
  counted: boolean;
  /** The tally seq that first included the vote, once counted. */
  seq?: number;
}

/** `GET /api/vote/:id`: has the consumer counted this vote yet? Throws on an HTTP error. */
export async function getVoteStatus(id: string, options: RequestOptions & { timeoutMs?: number } = {}): Promise<VoteStatusAnswer> {
  const res = await (options.fetch ?? globalFetch)(`${options.baseUrl ?? ''}${API.voteStatus(id)}`, {
    headers: { accept: 'application/json' },
    cache: 'no-store',
    signal: withTimeout(options.signal, options.timeoutMs ?? 10_000),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const body = (await res.json()) as { counted?: unknown; seq?: unknown };
  return { counted: body.counted === true, ...(typeof body.seq === 'number' ? { seq: body.seq } : {}) };
}

/**
 * `GET /api/results`: the current totals, `null` when the body is not a tally. Throws on an HTTP
 * error, a timeout or a network error, so a caller can tell "no answer" from "an odd answer".
 */
export async function getResults(options: RequestOptions & { timeoutMs: number }): Promise<Tally | null> {
  const res = await (options.fetch ?? globalFetch)(`${options.baseUrl ?? ''}${API.results}`, {
    headers: { accept: 'application/json' },
    cache: 'no-store',
    signal: withTimeout(options.signal, options.timeoutMs),
  });
  if (!res.ok) {
    void res.body?.cancel();
    throw new Error(`HTTP ${res.status}`);
  }
  return parseTally(await res.json());
}

/** `GET /api/watchers`: how many screens watch, over every server. Throws on an HTTP error. */
export async function getWatchers(options: RequestOptions & { timeoutMs?: number } = {}): Promise<number> {
  const res = await (options.fetch ?? globalFetch)(`${options.baseUrl ?? ''}${API.watchers}`, {
    headers: { accept: 'application/json' },
    cache: 'no-store',
    signal: withTimeout(options.signal, options.timeoutMs ?? 5_000),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const body = (await res.json()) as { watchers?: unknown };
  if (typeof body.watchers !== 'number' || !Number.isSafeInteger(body.watchers) || body.watchers < 0) throw new Error('not a watcher count');
  return body.watchers;
}

/** `GET /api/stream`: the live tally as Server-Sent Events (`API.tallyEvent` frames). Browser only. */
export function openTallyStream(): EventSource {
  return new EventSource(API.stream);
}

function withTimeout(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  return signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
}
