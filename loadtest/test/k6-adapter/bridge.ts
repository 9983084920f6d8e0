/**
 * The script thread's side of the synchronous I/O: post a job to the worker, then block in
 * Atomics.wait until the worker's answer is on the port. Messages for other jobs (frames of an
 * open SSE stream arriving while a handler makes an HTTP call) are kept in per-job mailboxes.
 */
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';

export interface Message {
  id: number;
  kind: string;
  [key: string]: unknown;
}

const signalBuffer = new SharedArrayBuffer(4);
const signal = new Int32Array(signalBuffer);
const { port1, port2 } = new MessageChannel();
const worker = new Worker(new URL('./worker.ts', import.meta.url), {
  workerData: { signal: signalBuffer, port: port2 },
  transferList: [port2],
});
worker.unref();
port1.unref();
worker.on('error', (err) => {
  console.error(`k6 test adapter: I/O worker failed: ${err.stack ?? err}`);
  process.exit(70);
});

const mailboxes = new Map<number, Message[]>();
let nextId = 1;

export function newJobId(): number {
  return nextId++;
}

export function post(job: { id: number; kind: string; [key: string]: unknown }): void {
  worker.postMessage(job);
}

/** Blocks until a message for job `id` arrives, or throws after `timeoutMs`. */
export function waitFor(id: number, timeoutMs: number, what: string): Message {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const box = mailboxes.get(id);
    if (box && box.length > 0) {
      const m = box.shift() as Message;
      if (box.length === 0) mailboxes.delete(id);
      return m;
    }
    const seen = Atomics.load(signal, 0);
    const received = receiveMessageOnPort(port1);
    if (received) {
      const m = received.message as Message;
      const list = mailboxes.get(m.id) ?? [];
      list.push(m);
      mailboxes.set(m.id, list);
      continue;
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`k6 test adapter: no answer for ${what} within ${timeoutMs} ms`);
    Atomics.wait(signal, 0, seen, left);
  }
}

export function forget(id: number): void {
  mailboxes.delete(id);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** A real blocking sleep, as k6's sleep() is for the VU. */
export function blockFor(ms: number): void {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}
