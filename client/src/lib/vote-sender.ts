/**
 * Sends one vote. A 503, a 5xx from a gateway, a timeout or a dropped network is retried by
 * itself with the SAME Idempotency-Key, so the API turns a retry of an already-stored vote into a
 * replay instead of a second vote. A 429 is handed back with its wait; nothing else is retried.
 */
import { postVote } from './api.ts';
import type { VoteOption } from './tally.ts';

export type SendOutcome =
  | { kind: 'accepted'; id: string; attempts: number; replayed: boolean }
  | { kind: 'rate-limited'; retryAfterSeconds: number }
  | { kind: 'rejected'; status: number; message: string }
  | { kind: 'gave-up'; attempts: number }
  | { kind: 'aborted' };

export interface RetryInfo {
  /** The attempt that failed (1-based). */
  attempt: number;
  /** How long we wait before the next attempt. */
  delayMs: number;
  reason: string;
}

export interface SendOptions {
  /** Origin to send to; '' (default) means the page's own origin. */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Idempotency-Key for this vote; default a fresh UUID. */
  key?: string;
  /** Attempts in total before giving up (503 / network errors only). */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per-attempt timeout. */
  timeoutMs?: number;
  signal?: AbortSignal;
  onRetry?: (info: RetryInfo) => void;
  random?: () => number;
}

const RETRYABLE = new Set([408, 500, 502, 503, 504]);
export const DEFAULT_RATE_LIMIT_WAIT_S = 10;

export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date. `null` when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs: number = Date.now()): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** Seconds to wait after a 429: Retry-After, else the `reset` of RateLimit / RateLimit-Reset headers. */
export function rateLimitWaitSeconds(headers: Headers, nowMs: number = Date.now()): number {
  const retryAfter = parseRetryAfter(headers.get('retry-after'), nowMs);
  if (retryAfter !== null) return Math.max(1, retryAfter);
  const reset = headers.get('ratelimit-reset') ?? /(?:^|[;,\s])(?:t|reset)=(\d+)/.exec(headers.get('ratelimit') ?? '')?.[1] ?? null;
  if (reset !== null && /^\d+$/.test(reset.trim())) return Math.max(1, Number(reset.trim()));
  return DEFAULT_RATE_LIMIT_WAIT_S;
}

/** Exponential backoff with jitter; a server's Retry-After is a floor. */
export function retryDelayMs(attempt: number, retryAfterSeconds: number | null, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(backoff * (0.5 + random() * 0.5));
  const floor = retryAfterSeconds === null ? 0 : Math.min(maxDelayMs, retryAfterSeconds * 1000);
  return Math.max(jittered, floor);
}

function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function errorMessage(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: unknown; message?: unknown };
    if (typeof body.error === 'string') return body.error;
    if (typeof body.message === 'string') return body.message;
  } catch {
    /* not JSON */
  }
  return res.statusText || `HTTP ${res.status}`;
}

export async function sendVote(option: VoteOption, options: SendOptions = {}): Promise<SendOutcome> {
  const key = options.key ?? newIdempotencyKey();
  const maxAttempts = options.maxAttempts ?? 8;
  const baseDelayMs = options.baseDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 8_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const callerSignal = options.signal;

  for (let attempt = 1; ; attempt++) {
    if (callerSignal?.aborted) return { kind: 'aborted' };
    let reason: string;
    let retryAfter: number | null = null;
    try {
      const signal = callerSignal ? AbortSignal.any([callerSignal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
      const res = await postVote(option, key, { baseUrl: options.baseUrl, fetch: options.fetch, signal });
      if (res.status === 202 || res.status === 200 || res.status === 201) {
        let id = key;
        try {
          const json = (await res.json()) as { id?: unknown };
          if (typeof json.id === 'string' && json.id !== '') id = json.id;
        } catch {
          /* the key is the vote id anyway */
        }
        return { kind: 'accepted', id, attempts: attempt, replayed: res.headers.get('idempotent-replayed') === 'true' };
      }
      if (res.status === 429) {
        void res.body?.cancel();
        return { kind: 'rate-limited', retryAfterSeconds: rateLimitWaitSeconds(res.headers) };
      }
      if (!RETRYABLE.has(res.status)) return { kind: 'rejected', status: res.status, message: await errorMessage(res) };
      void res.body?.cancel();
      reason = `HTTP ${res.status}`;
      retryAfter = parseRetryAfter(res.headers.get('retry-after'));
    } catch (err) {
      if (callerSignal?.aborted) return { kind: 'aborted' };
      reason = err instanceof Error && err.name === 'TimeoutError' ? 'timeout' : 'network error';
    }
    if (attempt >= maxAttempts) return { kind: 'gave-up', attempts: attempt };
    const delayMs = retryDelayMs(attempt, retryAfter, baseDelayMs, maxDelayMs, options.random);
    options.onRetry?.({ attempt, delayMs, reason });
    try {
      await wait(delayMs, callerSignal);
    } catch {
      return { kind: 'aborted' };
    }
  }
}
