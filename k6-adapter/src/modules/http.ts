/**
 * The adapter's `k6/http`: get, post and expectedStatuses. Requests are synchronous, as in k6:
 * the script's thread blocks until the I/O worker has the whole answer. Each request adds the
 * samples k6 would (http_reqs, http_req_duration, http_req_failed), tagged with name, method,
 * status and expected_response; one that counts as failed is also kept for the verdict.
 */
import { parseK6Duration } from '../k6-duration.ts';
import { onlyThese, refuseOtherKeys, Unsupported } from '../refusal.ts';
import { addSample, state, where } from '../state.ts';
import { httpRequest } from '../sync-io.ts';

interface ExpectedStatuses {
  expected: (status: number) => boolean;
  describe: string;
}

type StatusSpec = number | { min: number; max: number };

export function expectedStatuses(...specs: StatusSpec[]): ExpectedStatuses {
  for (const s of specs) {
    if (typeof s === 'number' ? !Number.isInteger(s) : !(Number.isInteger(s.min) && Number.isInteger(s.max))) {
      throw new Error(`expectedStatuses: bad argument ${JSON.stringify(s)}`);
    }
  }
  return {
    expected: (status) => specs.some((s) => (typeof s === 'number' ? status === s : status >= s.min && status <= s.max)),
    describe: specs.map((s) => (typeof s === 'number' ? String(s) : `${s.min}-${s.max}`)).join(','),
  };
}

/** k6's default: 200-399 is expected. */
const DEFAULT_CALLBACK = expectedStatuses({ min: 200, max: 399 });

interface Params {
  headers?: Record<string, string>;
  tags?: Record<string, string>;
  timeout?: string | number;
  responseCallback?: ExpectedStatuses | null;
}

const PARAMS = ['headers', 'tags', 'timeout', 'responseCallback'] as const;

/** Go's canonical header names, which k6 exposes: content-type -> Content-Type. */
export function canonicalHeaders(raw: Record<string, string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(raw)) {
    out[name.replace(/[^-]+/g, (p) => p[0]!.toUpperCase() + p.slice(1).toLowerCase())] = values.join(', ');
  }
  return out;
}

function request(method: 'GET' | 'POST', url: string, body: unknown, params: Params = {}) {
  if (state.phase === 'init') throw new Error('k6: making HTTP requests in the init context is not supported');
  refuseOtherKeys('http param', params, PARAMS);
  if (body !== null && typeof body !== 'string') throw new Unsupported(`a ${typeof body} body for http.post (k6 would form-encode an object; pass a string)`);
  const u = String(url);
  if (!/^https?:\/\//.test(u)) throw new Error(`k6: invalid URL "${u}"`);
  const timeoutMs = params.timeout === undefined ? 60_000 : parseK6Duration(params.timeout, 'http timeout');
  const headers = { ...params.headers };
  const r = httpRequest({ method, url: u, headers, body, timeoutMs });

  const callback = params.responseCallback === undefined ? DEFAULT_CALLBACK : params.responseCallback;
  const expected = callback === null || (r.status !== 0 && callback.expected(r.status));
  const tags = { name: u, method, url: u, status: String(r.status), expected_response: String(expected), ...params.tags };
  addSample('http_reqs', 1, tags);
  addSample('http_req_duration', r.durationMs, tags);
  if (callback !== null) addSample('http_req_failed', expected ? 0 : 1, tags);
  if (!expected) {
    const why = r.error || `status ${r.status}${callback ? ` (expected ${callback.describe})` : ''}`;
    const snippet = r.body.slice(0, 200);
    state.failedRequests.push(`${where()}: ${method} ${u} [${tags.name}] -> ${why}${snippet ? ` body: ${snippet}` : ''}`);
  }
  return onlyThese('Response', {
    status: r.status,
    body: r.body,
    headers: canonicalHeaders(r.headers),
    timings: onlyThese('Response.timings', { duration: r.durationMs }),
    error: r.error,
  });
}

export function get(url: string, params?: Params) {
  return request('GET', url, null, params);
}

export function post(url: string, body?: unknown, params?: Params) {
  return request('POST', url, body ?? null, params);
}

export default onlyThese('k6/http', { get, post, expectedStatuses });
