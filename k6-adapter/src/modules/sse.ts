/**
 * The adapter's `k6/x/sse` (the xk6-sse extension), with its synchronous API:
 * `sse.open(url, params, setup)` connects, calls `setup(client)` so the script can register
 * handlers, then blocks the VU, calling the 'event' handlers for each event, until a handler
 * calls `client.close()` or the server ends the stream. Events are split as xk6-sse splits
 * them: a blank line ends one, so heartbeats come as events with an empty name.
 */
import { onlyThese, refuseOtherKeys, Unsupported } from '../refusal.ts';
import { addSample, state, where } from '../state.ts';
import { sseClose, sseNext, sseOpen } from '../sync-io.ts';
import { canonicalHeaders } from './http.ts';

/** Longest an adapter run lets one sse.open block; k6 has no such limit, a check run needs one. */
const MAX_OPEN_MS = Number(process.env.K6_ADAPTER_SSE_MAX_MS ?? 120_000);

interface Params {
  headers?: Record<string, string>;
  tags?: Record<string, string>;
}

const EVENTS = ['event', 'error'] as const;
type Handler = (arg: unknown) => void;

function sseError(message: string) {
  return onlyThese('SSE error', { error: () => message });
}

export function open(url: string, params: Params | null, setup: (client: unknown) => void) {
  if (state.phase === 'init') throw new Error('using sse in the init context is not supported');
  if (typeof setup !== 'function') throw new Unsupported('sse.open without (url, params, setup): the two-argument form');
  refuseOtherKeys('sse.open param', params, ['headers', 'tags']);

  const handlers = new Map<string, Handler[]>();
  let closed = false;
  const client = onlyThese('SSE client', {
    on(event: string, handler: Handler) {
      if (!(EVENTS as readonly string[]).includes(event)) throw new Unsupported(`client.on("${event}")`, EVENTS);
      handlers.set(event, [...(handlers.get(event) ?? []), handler]);
    },
    close() {
      closed = true;
    },
  });
  const emit = (event: (typeof EVENTS)[number], arg: unknown) => {
    for (const h of handlers.get(event) ?? []) h(arg);
  };

  const tags = { name: url, url, method: 'GET', ...params?.tags };
  const opened = sseOpen(url, { Accept: 'text/event-stream', ...params?.headers });
  if ('error' in opened) {
    state.failedRequests.push(`${where()}: sse.open ${url} -> ${opened.error}`);
    return onlyThese('SSE response', { status: 0, headers: {}, error: opened.error });
  }
  const started = Date.now();
  setup(client);
  const deadline = started + MAX_OPEN_MS;
  try {
    while (!closed) {
      const next = sseNext(opened.stream, Math.max(1, deadline - Date.now()));
      if (next.kind === 'event') emit('event', onlyThese('SSE event', next.event));
      else if (next.kind === 'read-error') {
        emit('error', sseError(next.message));
        // xk6-sse would block this VU for good here; the adapter reports it instead.
        if (next.fatal && !closed) state.errors.push(`${where()}: the stream ${url} failed (${next.message}) and the script did not close it`);
        if (next.fatal) break;
      } else if (next.kind === 'end') break;
      else {
        state.errors.push(`${where()}: sse.open ${url} was still open after K6_ADAPTER_SSE_MAX_MS=${MAX_OPEN_MS} ms: no handler called client.close()`);
        break;
      }
    }
  } finally {
    sseClose(opened.stream);
  }
  addSample('http_reqs', 1, { ...tags, status: String(opened.status) });
  addSample('http_req_duration', Date.now() - started, { ...tags, status: String(opened.status) });
  return onlyThese('SSE response', { status: opened.status, headers: canonicalHeaders(opened.headers), error: '' });
}

export default onlyThese('k6/x/sse', { open });
