/**
 * Test adapter for `k6/http`. Requests are synchronous, as in k6: the script's thread blocks
 * until the I/O worker has the whole answer. Each request adds the samples k6 would
 * (http_reqs, http_req_duration, http_req_failed, ...), tagged with name, method, status and
 * expected_response; a request that counts as failed is also recorded for the adapter's verdict.
 */
import { newJobId, post as postJob, waitFor } from '../bridge.ts';
import { addSample, state, where } from '../state.ts';

interface ExpectedStatuses {
  __expected: (status: number) => boolean;
  __describe: string;
}

type StatusSpec = number | { min: number; max: number };

export function expectedStatuses(...specs: StatusSpec[]): ExpectedStatuses {
  for (const s of specs) {
    if (typeof s === 'number' ? !Number.isInteger(s) : !(Number.isInteger(s.min) && Number.isInteger(s.max))) {
      throw new Error(`expectedStatuses: bad argument ${JSON.stringify(s)}`);
    }
  }
  return {
    __expected: (status) => specs.some((s) => (typeof s === 'number' ? status === s : status >= s.min && status <= s.max)),
    __describe: specs.map((s) => (typeof s === 'number' ? String(s) : `${s.min}-${s.max}`)).join(','),
  };
}

let defaultCallback: ExpectedStatuses | null = expectedStatuses({ min: 200, max: 399 });

export function setResponseCallback(callback: ExpectedStatuses | null): void {
  defaultCallback = callback;
}

/** Go's canonical header names, which k6 exposes: content-type -> Content-Type. */
function canonical(name: string): string {
  return name
    .split('-')
    .map((p) => (p ? p[0]!.toUpperCase() + p.slice(1).toLowerCase() : p))
    .join('-');
}

function parseTimeout(t: unknown): number {
  if (t === undefined) return 60_000;
  if (typeof t === 'number') return t;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(String(t));
  if (!m) throw new Error(`http: bad timeout ${String(t)}`);
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[m[2] as string]!;
}

interface Params {
  headers?: Record<string, string>;
  tags?: Record<string, string>;
  timeout?: string | number;
  responseCallback?: ExpectedStatuses | null;
  responseType?: string;
  [key: string]: unknown;
}

const SUPPORTED_PARAMS = new Set(['headers', 'tags', 'timeout', 'responseCallback', 'responseType']);

function encodeBody(body: unknown, headers: Record<string, string>): string | null {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return body;
  if (typeof body === 'object') {
    // k6 form-encodes an object body.
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/x-www-form-urlencoded';
    return new URLSearchParams(Object.entries(body as Record<string, unknown>).map(([k, v]): [string, string] => [k, String(v)])).toString();
  }
  throw new Error(`http: unsupported body type ${typeof body}`);
}

export class Response {
  status: number;
  status_text: string;
  body: string | null;
  headers: Record<string, string>;
  timings: { duration: number; blocked: number; connecting: number; tls_handshaking: number; sending: number; waiting: number; receiving: number };
  url: string;
  proto: string;
  error: string;
  error_code: number;
  request: { method: string; url: string; headers: Record<string, string[]>; body: string };
  cookies: Record<string, unknown> = {};

  constructor(init: Omit<Response, 'json' | 'html' | 'cookies'>) {
    this.status = init.status;
    this.status_text = init.status_text;
    this.body = init.body;
    this.headers = init.headers;
    this.timings = init.timings;
    this.url = init.url;
    this.proto = init.proto;
    this.error = init.error;
    this.error_code = init.error_code;
    this.request = init.request;
  }

  json(selector?: string): unknown {
    if (selector !== undefined) throw new Error('k6 test adapter: Response.json(selector) is not supported');
    if (this.body === null) throw new Error('json(): the response has no body');
    return JSON.parse(this.body);
  }

  html(): never {
    throw new Error('k6 test adapter: Response.html() is not supported');
  }
}

export function request(method: string, url: string, body?: unknown, params: Params = {}): Response {
  if (state.phase === 'init') throw new Error('k6: making HTTP requests in the init context is not supported');
  for (const key of Object.keys(params ?? {})) {
    if (!SUPPORTED_PARAMS.has(key)) throw new Error(`k6 test adapter: http param "${key}" is not supported`);
  }
  const headers: Record<string, string> = { ...(params.headers ?? {}) };
  const payload = encodeBody(body, headers);
  const u = String(url);
  if (!/^https?:\/\//.test(u)) throw new Error(`k6: invalid URL "${u}"`);
  const timeoutMs = parseTimeout(params.timeout);
  const id = newJobId();
  postJob({ id, kind: 'http', method: method.toUpperCase(), url: u, headers, body: payload, timeoutMs });
  const m = waitFor(id, timeoutMs + 5000, `${method} ${u}`);
  if (m.kind !== 'http-result') throw new Error(`k6 test adapter: ${String(m.message ?? m.kind)}`);

  const rawHeaders = m.headers as Record<string, string[]>;
  const responseHeaders: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawHeaders)) responseHeaders[canonical(k)] = v.join(', ');
  const t = m.timings as { duration: number; waiting: number; receiving: number };
  const res = new Response({
    status: m.status as number,
    status_text: `${m.status} ${m.statusText}`,
    body: params.responseType === 'none' ? null : (m.body as string),
    headers: responseHeaders,
    timings: { duration: t.duration, blocked: 0, connecting: 0, tls_handshaking: 0, sending: 0, waiting: t.waiting, receiving: t.receiving },
    url: u,
    proto: m.proto as string,
    error: m.error as string,
    error_code: m.errorCode as number,
    request: { method: method.toUpperCase(), url: u, headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])), body: payload ?? '' },
  });

  const callback = params.responseCallback === undefined ? defaultCallback : params.responseCallback;
  const expected = callback === null ? true : res.status !== 0 && callback.__expected(res.status);
  const tags = {
    name: u,
    method: method.toUpperCase(),
    url: u,
    status: String(res.status),
    expected_response: String(expected),
    ...(params.tags ?? {}),
  };
  addSample('http_reqs', 1, tags);
  addSample('http_req_duration', t.duration, tags);
  addSample('http_req_waiting', t.waiting, tags);
  addSample('http_req_receiving', t.receiving, tags);
  if (callback !== null) addSample('http_req_failed', expected ? 0 : 1, tags);
  if (!expected) {
    const why = res.error ? res.error : `status ${res.status}${callback ? ` (expected ${callback.__describe})` : ''}`;
    const snippet = (res.body ?? '').slice(0, 200);
    state.failedRequests.push(`${where()}: ${method.toUpperCase()} ${u} [${tags.name}] -> ${why}${snippet ? ` body: ${snippet}` : ''}`);
  }
  return res;
}

export function get(url: string, params?: Params): Response {
  return request('GET', url, null, params);
}
export function head(url: string, params?: Params): Response {
  return request('HEAD', url, null, params);
}
export function post(url: string, body?: unknown, params?: Params): Response {
  return request('POST', url, body, params);
}
export function put(url: string, body?: unknown, params?: Params): Response {
  return request('PUT', url, body, params);
}
export function patch(url: string, body?: unknown, params?: Params): Response {
  return request('PATCH', url, body, params);
}
export function del(url: string, body?: unknown, params?: Params): Response {
  return request('DELETE', url, body, params);
}
export function options(url: string, body?: unknown, params?: Params): Response {
  return request('OPTIONS', url, body, params);
}

export function batch(): never {
  throw new Error('k6 test adapter: http.batch is not supported');
}

export default { request, get, head, post, put, patch, del, options, batch, expectedStatuses, setResponseCallback };
