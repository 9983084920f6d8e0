/**
 * The script thread's side of the synchronous I/O: each call blocks until the I/O worker
 * (io-worker.ts) has the answer. synckit does the blocking (a worker thread, Atomics.wait and
 * receiveMessageOnPort); every call carries its own deadline, enforced in the worker.
 */
import { createSyncFn } from 'synckit';
import type { HttpResult, IoCall, SseNext, SseOpened } from './io-worker.ts';

const io = createSyncFn(new URL('./io-worker.ts', import.meta.url).href) as (call: IoCall) => unknown;

export function httpRequest(call: Omit<Extract<IoCall, { kind: 'http' }>, 'kind'>): HttpResult {
  return io({ kind: 'http', ...call }) as HttpResult;
}

export function sseOpen(url: string, headers: Record<string, string>): SseOpened {
  return io({ kind: 'sse-open', url, headers }) as SseOpened;
}

export function sseNext(stream: number, timeoutMs: number): SseNext {
  return io({ kind: 'sse-next', stream, timeoutMs }) as SseNext;
}

export function sseClose(stream: number): void {
  io({ kind: 'sse-close', stream });
}
