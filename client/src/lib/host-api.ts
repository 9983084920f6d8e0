/**
 * Every request of the host's page (`/host`), like `lib/api.ts` for the public ones. Same-origin,
 * with the session cookie (HttpOnly: this code never sees it); the token itself is sent once, to
 * trade it for the cookie. Browser-only.
 */
import { ROUTES } from '@livevote/contract/constants';
import type { HostRound, RoundPatch, RoundSummary } from '@livevote/contract';

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

export async function getRound(f?: Fetch): Promise<HostRound> {
  return (await (await call(ROUTES.hostRound, {}, f)).json()) as HostRound;
}

export async function listRounds(f?: Fetch): Promise<RoundSummary[]> {
  return ((await (await call(ROUTES.hostRounds, {}, f)).json()) as { rounds: RoundSummary[] }).rounds;
}

export async function startRound(f?: Fetch): Promise<number> {
  return ((await (await call(ROUTES.hostRounds, { method: 'POST' }, f)).json()) as { round: number }).round;
}

export async function changeRound(patch: RoundPatch, f?: Fetch): Promise<HostRound> {
  return (await (await call(ROUTES.hostRound, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) }, f)).json()) as HostRound;
}

/** The token in `#token=…` of the host link, if any. */
export function tokenFromHash(hash: string): string | null {
  const m = /(?:^#|&)token=([^&]+)/.exec(hash);
  return m ? decodeURIComponent(m[1] as string) : null;
}
