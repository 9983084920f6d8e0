import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { parseCookie } from 'cookie';
import type { Request, RequestHandler, Response } from 'express';
import { HOST_SESSION_COOKIE, HOST_SESSION_COOKIE_SECURE, ROUTES } from '@livevote/contract';
import type { ServerMetrics } from './metrics.ts';
import type { RateLimits } from './rate-limits.ts';
import type { HostSessionEpoch } from './host-session-epoch.ts';
import { sendError } from './http-errors.ts';

/** A host session lasts one long event day. */
export const SESSION_SECONDS = 12 * 60 * 60;
/** Where every host route lives (`/api/host`). */
export const HOST_PATH = ROUTES.hostSession.slice(0, ROUTES.hostSession.lastIndexOf('/'));

export interface HostAuthOptions {
  token: string;
  metrics: ServerMetrics;
  rateLimits: Pick<RateLimits, 'hostFailures'>;
  epoch: Pick<HostSessionEpoch, 'current'>;
  now?: () => number;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Equal in constant time: both sides are hashed first, so neither length nor content leaks. */
function sameSecret(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

/** What a request carries: a valid token or session, nothing valid (and why), or no answer yet. */
export type Credential = 'token' | 'session' | 'missing' | 'invalid' | 'unavailable';

/**
 * The cookie over https is `__Host-` prefixed, which browsers keep only with `Secure`, `Path=/`
 * and no `Domain`: no sibling host can plant one. Over http (local use) it keeps the plain name
 * and `Path=/api/host`. Each scheme reads only its own name.
 */
const cookieOf = (req: Request) =>
  req.secure
    ? { name: HOST_SESSION_COOKIE_SECURE, options: { httpOnly: true, sameSite: 'strict', secure: true, path: '/' } as const }
    : { name: HOST_SESSION_COOKIE, options: { httpOnly: true, sameSite: 'strict', secure: false, path: HOST_PATH } as const };

/**
 * Host credentials: `Authorization: Bearer <HOST_TOKEN>`, or the session cookie that
 * `POST /api/host/session` trades the token for. The cookie is `<expiry>.<epoch>.<HMAC>`, signed
 * with a key derived from the token (HKDF), never the token itself: every replica checks it with
 * the token and the current epoch (PostgreSQL's, cached a second); changing HOST_TOKEN, or "sign
 * out everywhere" moving the epoch on, ends every session. Requests without a valid credential
 * count against the address's failure limit.
 */
export class HostAuth {
  private readonly options: HostAuthOptions;
  private readonly expected: Buffer;
  private readonly key: Buffer;

  constructor(options: HostAuthOptions) {
    this.options = options;
    this.expected = digest(options.token);
    this.key = Buffer.from(hkdfSync('sha256', options.token, 'livevote', 'host session cookie v2', 32));
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private sign(expiresAt: number, epoch: number): string {
    return createHmac('sha256', this.key).update(`host-session:${expiresAt}:${epoch}`).digest('base64url');
  }

  private sessionValue(epoch: number): string {
    const expiresAt = Math.floor(this.now() / 1000) + SESSION_SECONDS;
    return `${expiresAt}.${epoch}.${this.sign(expiresAt, epoch)}`;
  }

  private async validSession(value: string): Promise<'session' | 'invalid' | 'unavailable'> {
    const m = /^(\d{1,12})\.(\d{1,10})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (!m) return 'invalid';
    const expiresAt = Number(m[1]);
    const epoch = Number(m[2]);
    if (expiresAt * 1000 <= this.now()) return 'invalid';
    if (!timingSafeEqual(Buffer.from(m[3] as string), Buffer.from(this.sign(expiresAt, epoch)))) return 'invalid';
    const current = await this.options.epoch.current().catch(() => null);
    if (current === null) return 'unavailable';
    return epoch === current ? 'session' : 'invalid';
  }

  private bearer(req: Request): string | undefined {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    return m?.[1];
  }

  /** What the request carries. Never counts anything. */
  async credential(req: Request, allowCookie = true): Promise<Credential> {
    const token = this.bearer(req);
    if (token !== undefined) return sameSecret(token, this.expected) ? 'token' : 'invalid';
    if (req.get('authorization') !== undefined) return 'invalid';
    if (!allowCookie) return 'missing';
    const cookie = parseCookie(req.get('cookie') ?? '')[cookieOf(req).name];
    if (cookie === undefined) return 'missing';
    return this.validSession(cookie);
  }

  private async refuse(req: Request, res: Response, reason: 'missing' | 'invalid'): Promise<void> {
    const admission = await this.options.rateLimits.hostFailures(req.ip ?? 'unknown');
    if (!admission.allowed) {
      if (admission.unavailable) return sendError(res, 503, 'host sign-in temporarily unavailable; retry shortly', { retryAfterSeconds: admission.retryAfterSeconds });
      return sendError(res, 429, 'too many failed host sign-ins from this address; retry after the Retry-After delay', { retryAfterSeconds: admission.retryAfterSeconds });
    }
    this.options.metrics.hostAuthFailures.inc({ reason });
    res.set('www-authenticate', 'Bearer realm="live vote host"');
    sendError(res, 401, reason === 'missing' ? 'host token required: send Authorization: Bearer <HOST_TOKEN>' : 'host token or session is not valid');
  }

  /** Lets a request with the token or a live session through; 401 (or 429 when guessing) otherwise. */
  require(options: { allowCookie: boolean } = { allowCookie: true }): RequestHandler {
    return (req, res, next) => {
      void this.credential(req, options.allowCookie)
        .then((c) => {
          if (c === 'token' || c === 'session') return next();
          if (c === 'unavailable') return sendError(res, 503, 'host sessions cannot be checked right now (the database is away); retry shortly', { retryAfterSeconds: 1 });
          return this.refuse(req, res, c);
        })
        .catch(next);
    };
  }

  /** Sets the session cookie: HttpOnly (no script reads it), SameSite=Strict. Rejects when the epoch cannot be read. */
  async setSession(req: Request, res: Response): Promise<void> {
    const epoch = await this.options.epoch.current();
    const { name, options } = cookieOf(req);
    res.cookie(name, this.sessionValue(epoch), { ...options, maxAge: SESSION_SECONDS * 1000 });
  }

  clearSession(req: Request, res: Response): void {
    const { name, options } = cookieOf(req);
    res.clearCookie(name, options);
  }
}
