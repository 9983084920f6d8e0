/**
 * The I/O thread of the k6 test adapter. k6's HTTP and SSE calls are synchronous for the script;
 * Node's are not. The script's thread posts a request here and blocks on Atomics.wait; this
 * thread does the real network I/O with node:http and answers on a MessagePort, bumping a
 * shared counter so the blocked thread wakes up and reads the answer with receiveMessageOnPort.
 */
import http from 'node:http';
import https from 'node:https';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';

const signal = new Int32Array(workerData.signal as SharedArrayBuffer);
const reply = workerData.port as MessagePort;

function send(message: unknown): void {
  reply.postMessage(message);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

const agents = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
};

export interface HttpJob {
  kind: 'http';
  id: number;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
  timeoutMs: number;
}

export interface SseJob {
  kind: 'sse-open';
  id: number;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
}

type Job = HttpJob | SseJob | { kind: 'sse-close'; id: number };

function errorCode(err: NodeJS.ErrnoException): number {
  // A few of k6's error codes, so scripts that look at error_code see familiar values.
  switch (err.code) {
    case 'ECONNREFUSED':
      return 1212;
    case 'ENOTFOUND':
      return 1101;
    case 'ECONNRESET':
      return 1220;
    case 'ETIMEDOUT':
    case 'ABORT_ERR':
      return 1050;
    default:
      return 1000;
  }
}

function start(job: HttpJob | SseJob, signalAbort: AbortSignal) {
  const url = new URL(job.url);
  const mod = url.protocol === 'https:' ? https : http;
  const agent = agents[url.protocol as 'http:' | 'https:'];
  if (!agent) throw new Error(`unsupported protocol ${url.protocol}`);
  const headers: Record<string, string> = { 'User-Agent': 'livevote-k6-test-adapter', ...job.headers };
  if (job.body !== null) headers['Content-Length'] = String(Buffer.byteLength(job.body));
  const req = mod.request(url, { method: job.method, headers, agent, signal: signalAbort });
  if (job.body !== null) req.write(job.body);
  req.end();
  return req;
}

function runHttp(job: HttpJob): void {
  const t0 = performance.now();
  const abort = AbortSignal.timeout(job.timeoutMs);
  let tFirstByte = 0;
  const req = start(job, abort);
  req.on('response', (res) => {
    tFirstByte = performance.now();
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const t1 = performance.now();
      send({
        id: job.id,
        kind: 'http-result',
        status: res.statusCode ?? 0,
        statusText: res.statusMessage ?? '',
        headers: res.headersDistinct,
        body: Buffer.concat(chunks).toString('utf8'),
        proto: `HTTP/${res.httpVersion}`,
        timings: { duration: t1 - t0, waiting: tFirstByte - t0, receiving: t1 - tFirstByte },
        error: '',
        errorCode: 0,
      });
    });
    res.on('error', (err) => fail(err));
  });
  let failed = false;
  const fail = (err: NodeJS.ErrnoException) => {
    if (failed) return;
    failed = true;
    const timedOut = abort.aborted;
    send({
      id: job.id,
      kind: 'http-result',
      status: 0,
      statusText: '',
      headers: {},
      body: '',
      proto: '',
      timings: { duration: performance.now() - t0, waiting: 0, receiving: 0 },
      error: timedOut ? `request timeout after ${job.timeoutMs}ms` : err.message,
      errorCode: timedOut ? 1050 : errorCode(err),
    });
  };
  req.on('error', fail);
}

const streams = new Map<number, AbortController>();
/** Streams whose end has been reported: nothing more is sent for them. */
const ended = new Set<number>();

function sendStream(id: number, message: Record<string, unknown>): void {
  if (ended.has(id)) return;
  if (message.kind === 'sse-end' || message.kind === 'sse-connect-error') {
    ended.add(id);
    streams.delete(id);
  }
  send({ id, ...message });
}

/** Splits the stream into events exactly as xk6-sse's reader does (see k6-adapter/README). */
function runSse(job: SseJob): void {
  const controller = new AbortController();
  streams.set(job.id, controller);
  const t0 = performance.now();
  const req = start(job, controller.signal);
  let closedByClient = false;
  controller.signal.addEventListener('abort', () => {
    closedByClient = true;
  });
  req.on('response', (res) => {
    sendStream(job.id, {kind: 'sse-response', status: res.statusCode ?? 0, headers: res.headersDistinct, connectMs: performance.now() - t0 });
    let pending = '';
    let ev = { id: '', name: '', data: '', comment: '' };
    let data = '';
    const line = (l: string) => {
      // l includes its trailing "\n".
      const body = l.slice(0, -1);
      if (l.startsWith('id: ')) ev.id = l.slice(4, -1);
      else if (l.startsWith('id:')) ev.id = l.slice(3, -1);
      else if (l.startsWith(': ')) ev.comment = l.slice(2, -1);
      else if (l.startsWith(':')) ev.comment = l.slice(1, -1);
      else if (l.startsWith('event: ')) ev.name = l.slice(7, -1);
      else if (l.startsWith('event:')) ev.name = l.slice(6, -1);
      else if (l.startsWith('data: ')) data += l.slice(6);
      else if (l.startsWith('data:')) data += l.slice(5);
      else if (l.startsWith('retry:')) {
        /* ignored, as xk6-sse does */
      } else if (l === '\n' || l === '\r\n') {
        ev.data = data.replace(/[\r\n]+$/, '');
        sendStream(job.id, {kind: 'sse-event', event: ev });
        ev = { id: '', name: '', data: '', comment: '' };
        data = '';
      } else sendStream(job.id, {kind: 'sse-read-error', message: `unknown event: ${body}` });
    };
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        line(pending.slice(0, nl + 1));
        pending = pending.slice(nl + 1);
      }
    });
    res.on('end', () => {
      sendStream(job.id, {kind: 'sse-end', durationMs: performance.now() - t0 });
    });
    res.on('error', (err) => {
      if (closedByClient) sendStream(job.id, {kind: 'sse-end', durationMs: performance.now() - t0 });
      else sendStream(job.id, {kind: 'sse-read-error', message: err.message, fatal: true });
    });
  });
  req.on('error', (err) => {
    if (closedByClient) sendStream(job.id, {kind: 'sse-end', durationMs: performance.now() - t0 });
    else sendStream(job.id, {kind: 'sse-connect-error', message: err.message });
  });
}

parentPort?.on('message', (job: Job) => {
  try {
    if (job.kind === 'http') runHttp(job);
    else if (job.kind === 'sse-open') runSse(job);
    else if (job.kind === 'sse-close') {
      streams.get(job.id)?.abort();
      sendStream(job.id, { kind: 'sse-end', durationMs: 0 });
    }
  } catch (err) {
    send({ id: job.id, kind: 'adapter-error', message: (err as Error).message });
  }
});
