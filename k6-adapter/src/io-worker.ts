/**
 * The I/O thread of the k6 test adapter. k6's HTTP and SSE calls are synchronous for the script;
 * Node's are not. synckit runs this file in a worker thread and blocks the script's thread on
 * each call until its promise settles (see sync-io.ts). An open SSE stream keeps reading here
 * between calls: its events queue up until the script asks for the next one.
 */
import http from 'node:http';
import { runAsWorker } from 'synckit';

export type IoCall =
  | { kind: 'http'; method: string; url: string; headers: Record<string, string>; body: string | null; timeoutMs: number }
  | { kind: 'sse-open'; url: string; headers: Record<string, string> }
  | { kind: 'sse-next'; stream: number; timeoutMs: number }
  | { kind: 'sse-close'; stream: number };

export interface HttpResult {
  status: number;
  headers: Record<string, string[]>;
  body: string;
  durationMs: number;
  error: string;
}

export interface SseEvent {
  id: string;
  name: string;
  data: string;
  comment: string;
}

export type SseOpened = { stream: number; status: number; headers: Record<string, string[]> } | { error: string };

/** What `sse-next` answers: an event, a read error (fatal: the stream broke), its end, or nothing in time. */
export type SseNext =
  | { kind: 'event'; event: SseEvent }
  | { kind: 'read-error'; message: string; fatal: boolean }
  | { kind: 'end' }
  | { kind: 'timeout' };

const agent = new http.Agent({ keepAlive: true });

function request(url: string, method: string, headers: Record<string, string>, body: string | null, signal: AbortSignal) {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new Error(`${u.protocol} URLs are not supported by the k6 test adapter (it checks scripts against a local stack over http:)`);
  const all: Record<string, string> = { 'User-Agent': 'livevote-k6-test-adapter', ...headers };
  if (body !== null) all['Content-Length'] = String(Buffer.byteLength(body));
  const req = http.request(u, { method, headers: all, agent, signal });
  req.end(body ?? undefined);
  return req;
}

function runHttp(call: Extract<IoCall, { kind: 'http' }>): Promise<HttpResult> {
  const t0 = performance.now();
  const abort = AbortSignal.timeout(call.timeoutMs);
  return new Promise((resolve) => {
    const fail = (err: Error) =>
      resolve({ status: 0, headers: {}, body: '', durationMs: performance.now() - t0, error: abort.aborted ? `request timeout after ${call.timeoutMs}ms` : err.message });
    const req = request(call.url, call.method, call.headers, call.body, abort);
    req.on('error', fail);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headersDistinct as Record<string, string[]>, body: Buffer.concat(chunks).toString('utf8'), durationMs: performance.now() - t0, error: '' }),
      );
    });
  });
}

interface Stream {
  controller: AbortController;
  queue: SseNext[];
  /** The pending `sse-next` call, if the script is waiting for this stream. */
  waiter: ((next: SseNext) => void) | null;
  ended: boolean;
}

const CONNECT_TIMEOUT_MS = 30_000;
const streams = new Map<number, Stream>();
let nextStream = 1;

function deliver(s: Stream, next: SseNext): void {
  if (s.ended) return;
  if (next.kind === 'end' || (next.kind === 'read-error' && next.fatal)) s.ended = true;
  if (s.waiter) {
    const w = s.waiter;
    s.waiter = null;
    w(next);
  } else s.queue.push(next);
}

/** Splits the stream into events as xk6-sse's reader does (see k6-adapter/README.md). */
function parseLines(s: Stream): (chunk: string) => void {
  let pending = '';
  let ev: SseEvent = { id: '', name: '', data: '', comment: '' };
  let data = '';
  const field = (l: string, name: string) => (l.startsWith(`${name}: `) ? l.slice(name.length + 2, -1) : l.slice(name.length + 1, -1));
  const line = (l: string) => {
    // l includes its trailing "\n".
    if (l.startsWith('id:')) ev.id = field(l, 'id');
    else if (l.startsWith(':')) ev.comment = l.startsWith(': ') ? l.slice(2, -1) : l.slice(1, -1);
    else if (l.startsWith('event:')) ev.name = field(l, 'event');
    else if (l.startsWith('data:')) data += l.startsWith('data: ') ? l.slice(6) : l.slice(5);
    else if (l.startsWith('retry:')) {
      /* ignored, as xk6-sse does */
    } else if (l === '\n' || l === '\r\n') {
      ev.data = data.replace(/[\r\n]+$/, '');
      deliver(s, { kind: 'event', event: ev });
      ev = { id: '', name: '', data: '', comment: '' };
      data = '';
    } else deliver(s, { kind: 'read-error', message: `unknown event: ${l.slice(0, -1)}`, fatal: false });
  };
  return (chunk) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      line(pending.slice(0, nl + 1));
      pending = pending.slice(nl + 1);
    }
  };
}

function openSse(call: Extract<IoCall, { kind: 'sse-open' }>): Promise<SseOpened> {
  const id = nextStream++;
  const s: Stream = { controller: new AbortController(), queue: [], waiter: null, ended: false };
  return new Promise((resolve) => {
    const req = request(call.url, 'GET', call.headers, null, s.controller.signal);
    let opened = false;
    const connectTimer = setTimeout(() => req.destroy(new Error(`no response within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    req.on('error', (err) => {
      clearTimeout(connectTimer);
      if (!opened) resolve({ error: err.message });
      else if (s.controller.signal.aborted) deliver(s, { kind: 'end' });
      else deliver(s, { kind: 'read-error', message: err.message, fatal: true });
    });
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      opened = true;
      streams.set(id, s);
      res.setEncoding('utf8');
      res.on('data', parseLines(s));
      res.on('end', () => deliver(s, { kind: 'end' }));
      res.on('error', (err) => deliver(s, s.controller.signal.aborted ? { kind: 'end' } : { kind: 'read-error', message: err.message, fatal: true }));
      resolve({ stream: id, status: res.statusCode ?? 0, headers: res.headersDistinct as Record<string, string[]> });
    });
  });
}

function nextOf(call: Extract<IoCall, { kind: 'sse-next' }>): Promise<SseNext> {
  const s = streams.get(call.stream);
  if (!s) return Promise.resolve({ kind: 'end' });
  const queued = s.queue.shift();
  if (queued) return Promise.resolve(queued);
  if (s.ended) return Promise.resolve({ kind: 'end' });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.waiter = null;
      resolve({ kind: 'timeout' });
    }, call.timeoutMs);
    s.waiter = (next) => {
      clearTimeout(timer);
      resolve(next);
    };
  });
}

runAsWorker(async (call: IoCall): Promise<HttpResult | SseOpened | SseNext | null> => {
  switch (call.kind) {
    case 'http':
      return runHttp(call);
    case 'sse-open':
      return openSse(call);
    case 'sse-next':
      return nextOf(call);
    case 'sse-close':
      streams.get(call.stream)?.controller.abort();
      streams.delete(call.stream);
      return null;
  }
});
