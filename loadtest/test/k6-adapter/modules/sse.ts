/**
 * Test adapter for `k6/x/sse` (the xk6-sse extension), with its synchronous API:
 * `sse.open(url, params, setup)` connects, calls `setup(client)` so the script can register
 * handlers, emits 'open', then blocks the VU, calling the 'event' handlers for each event,
 * until a handler calls `client.close()` or the server ends the stream. Events are split as
 * xk6-sse splits them: a blank line ends one, so heartbeats come as events with an empty name.
 */
import { forget, newJobId, post, waitFor } from '../bridge.ts';
import { addSample, defineMetric, state, where } from '../state.ts';

defineMetric('sse_event', 'counter', false, true);

/** Longest an adapter run lets one sse.open block; k6 has no such limit, a check run needs one. */
const MAX_OPEN_MS = Number(process.env.K6_ADAPTER_SSE_MAX_MS ?? 120_000);

interface Params {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  tags?: Record<string, string>;
}

type Handler = (arg?: unknown) => void;

function canonical(name: string): string {
  return name
    .split('-')
    .map((p) => (p ? p[0]!.toUpperCase() + p.slice(1).toLowerCase() : p))
    .join('-');
}

function sseError(message: string) {
  return { error: () => message, toString: () => message };
}

export function open(url: string, paramsOrSetup: Params | null | ((c: unknown) => void), maybeSetup?: (c: unknown) => void) {
  if (state.phase === 'init') throw new Error('using sse in the init context is not supported');
  const setup = (typeof paramsOrSetup === 'function' ? paramsOrSetup : maybeSetup) as ((c: unknown) => void) | undefined;
  const params = (typeof paramsOrSetup === 'function' ? {} : (paramsOrSetup ?? {})) as Params;
  if (typeof setup !== 'function') throw new Error('last argument to sse.open must be a function');

  const handlers = new Map<string, Handler[]>();
  let closed = false;
  const id = newJobId();
  const client = {
    on(event: string, handler: Handler) {
      if (typeof handler === 'function') handlers.set(event, [...(handlers.get(event) ?? []), handler]);
    },
    close() {
      if (closed) return;
      closed = true;
      post({ id, kind: 'sse-close' });
    },
  };
  const emit = (event: string, arg?: unknown) => {
    for (const h of handlers.get(event) ?? []) h(arg);
  };

  const headers: Record<string, string> = { Accept: 'text/event-stream', ...(params.headers ?? {}) };
  post({ id, kind: 'sse-open', method: params.method ?? 'GET', url, headers, body: params.body ?? null });
  const first = waitFor(id, 30_000, `sse.open ${url}`);
  const tags = { name: url, url, method: params.method ?? 'GET', ...(params.tags ?? {}) };
  if (first.kind !== 'sse-response') {
    const message = String(first.message ?? first.kind);
    state.failedRequests.push(`${where()}: sse.open ${url} -> ${message}`);
    forget(id);
    return { url, status: 0, headers: {}, error: message };
  }
  const status = first.status as number;
  const responseHeaders: Record<string, string> = {};
  for (const [k, v] of Object.entries(first.headers as Record<string, string[]>)) responseHeaders[canonical(k)] = v.join(', ');
  const started = Date.now();

  setup(client);
  emit('open');
  const deadline = Date.now() + MAX_OPEN_MS;
  for (;;) {
    const m = waitFor(id, Math.max(1, deadline - Date.now()), `the next event on ${url} (K6_ADAPTER_SSE_MAX_MS=${MAX_OPEN_MS})`);
    if (m.kind === 'sse-event') {
      addSample('sse_event', 1, tags);
      if (!closed) emit('event', m.event);
    } else if (m.kind === 'sse-read-error') {
      if (!closed) emit('error', sseError(String(m.message)));
      if (m.fatal === true && !closed) {
        // xk6-sse would block this VU for good here; the adapter reports it instead.
        state.errors.push(`${where()}: the stream ${url} failed (${String(m.message)}) and the script did not close it`);
        break;
      }
    } else if (m.kind === 'sse-end') {
      break;
    } else {
      throw new Error(`k6 test adapter: unexpected ${m.kind} on ${url}`);
    }
  }
  forget(id);
  addSample('http_reqs', 1, { ...tags, status: String(status) });
  addSample('http_req_duration', Date.now() - started, { ...tags, status: String(status) });
  return { url, status, headers: responseHeaders, error: '' };
}

export default { open };
