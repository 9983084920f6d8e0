/**
 * Every request of the host's page (`/host`), like `lib/api.ts` for the public ones. Same-origin,
 * with the session cookie (HttpOnly: this code never sees it); the token itself is sent once, to
 * trade it for the cookie. Browser-only.
 */
import { ROUTES } from '@livevote/contract/constants';
import type { HostRound, RoundPatch, RoundStart, RoundSummary } from '@livevote/contract';

/** The request carried no valid token or session (401). */
export class NotSignedIn extends Error {
  constructor() {
    super('not signed in');
    this.name = 'NotSignedIn';
  }
}

/** Any other answer that is not a success, with the API's own message when it sent one. */
export class HostRequestFailed extends Error {
  readonly status: number;
  readonly retryAfterSeconds: number | null;
  constructor(status: number, message: string, retryAfterSeconds: number | null) {
    super(message);
    this.name = 'HostRequestFailed';
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

type Fetch = typeof fetch;
const globalFetch: Fetch = (input, init) => globalThis.fetch(input, init);

async function call(path: string, init: RequestInit = {}, f: Fetch = globalFetch): Promise<Response> {
  const res = await f(path, { credentials: 'same-origin', cache: 'no-store', ...init, headers: { accept: 'application/json', ...(init.headers as Record<string, string>) } });
  if (res.ok) return res;
  if (res.status === 401) throw new NotSignedIn();
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: unknown };
    if (typeof body.error === 'string') message = body.error;
  } catch {
    // not JSON: keep the status text
  }
  const retry = Number(res.headers.get('retry-after'));
  throw new HostRequestFailed(res.status, message, Number.isFinite(retry) && retry > 0 ? retry : null);
}

/** Trades the token for the session cookie. */
export async function signIn(token: string, f?: Fetch): Promise<void> {
  await call(ROUTES.hostSession, { method: 'POST', headers: { authorization: `Bearer ${token}` } }, f);
}

export async function signOut(f?: Fetch): Promise<void> {
  await call(ROUTES.hostSession, { method: 'DELETE' }, f);
}

/** Ends every host session, on every device (this one too). */
export async function signOutEverywhere(f?: Fetch): Promise<void> {
  await call(ROUTES.hostSessions, { method: 'DELETE' }, f);
}

export async function getRound(f?: Fetch): Promise<HostRound> {
  return (await (await call(ROUTES.hostRound, {}, f)).json()) as HostRound;
}

export async function listRounds(f?: Fetch): Promise<RoundSummary[]> {
  return ((await (await call(ROUTES.hostRounds, {}, f)).json()) as { rounds: RoundSummary[] }).rounds;
}

export interface ChangeOptions {
  fetch?: Fetch;
  /** Give up retrying after this long (the last failure is thrown). */
  retryForMs?: number;
  /** Waits between attempts (tests pass a quick one). */
  sleep?: (ms: number) => Promise<void>;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sends one host change with one Idempotency-Key, again with the same key while the answer says
 * nothing changed yet (503), the outcome is unknown (504) or no answer came at all: the server
 * makes the change once per key, so a retry can never start a second round.
 */
async function sendChange(path: string, init: RequestInit, options: ChangeOptions): Promise<Response> {
  const key = crypto.randomUUID();
  const deadline = Date.now() + (options.retryForMs ?? 20_000);
  for (let attempt = 0; ; attempt++) {
    try {
      return await call(path, { ...init, headers: { ...(init.headers as Record<string, string>), 'idempotency-key': key } }, options.fetch);
    } catch (err) {
      const retryable = err instanceof TypeError || (err instanceof HostRequestFailed && (err.status === 503 || err.status === 504));
      if (!retryable || Date.now() >= deadline) throw err;
      const hinted = err instanceof HostRequestFailed && err.retryAfterSeconds ? err.retryAfterSeconds * 1000 : 0;
      await (options.sleep ?? pause)(Math.min(Math.max(hinted, 250 * 2 ** attempt), 4000));
    }
  }
}

/** Starts the next round, open and shown unless `start` says otherwise. */
export async function startRound(start: RoundStart = {}, options: ChangeOptions = {}): Promise<number> {
  const body = Object.keys(start).length ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(start) } : {};
  return ((await (await sendChange(ROUTES.hostRounds, { method: 'POST', ...body }, options)).json()) as { round: number }).round;
}

export async function changeRound(patch: RoundPatch, options: ChangeOptions = {}): Promise<HostRound> {
  return (await (await sendChange(ROUTES.hostRound, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) }, options)).json()) as HostRound;
}

/** The token in `#token=…` of the host link, if any. */
export function tokenFromHash(hash: string): string | null {
  const m = /(?:^#|&)token=([^&]+)/.exec(hash);
  return m ? decodeURIComponent(m[1] as string) : null;
}
