import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { parseCookie } from 'cookie';
import type { Request, RequestHandler, Response } from 'express';
import { HOST_SESSION_COOKIE, ROUTES } from '@livevote/contract';
import type { ServerMetrics } from './metrics.ts';
import type { RateLimits } from './rate-limits.ts';
import { sendError } from './http-errors.ts';

/** A host session lasts one long event day. */
export const SESSION_SECONDS = 12 * 60 * 60;
const COOKIE_PATH = ROUTES.hostSession.slice(0, ROUTES.hostSession.lastIndexOf('/'));

export interface HostAuthOptions {
  token: string;
  metrics: ServerMetrics;
  rateLimits: Pick<RateLimits, 'hostFailures'>;
  now?: () => number;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Equal in constant time: both sides are hashed first, so neither length nor content leaks. */
function sameSecret(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

/**
 * Host credentials: `Authorization: Bearer <HOST_TOKEN>`, or the session cookie that
 * `POST /api/host/session` trades the token for. The cookie is `<expiry>.<HMAC(token, expiry)>`:
 * every replica checks it with the token alone, nothing is stored, and changing HOST_TOKEN ends
 * every session. Requests without a valid credential count against the address's failure limit.
 */
export class HostAuth {
  private readonly options: HostAuthOptions;
  private readonly expected: Buffer;

  constructor(options: HostAuthOptions) {
    this.options = options;
    this.expected = digest(options.token);
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private sign(expiresAt: number): string {
    return createHmac('sha256', this.options.token).update(`host-session:${expiresAt}`).digest('base64url');
  }

  sessionValue(): string {
    const expiresAt = Math.floor(this.now() / 1000) + SESSION_SECONDS;
    return `${expiresAt}.${this.sign(expiresAt)}`;
  }

  private validSession(value: string | undefined): boolean {
    const m = value === undefined ? null : /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (!m) return false;
    const expiresAt = Number(m[1]);
    if (expiresAt * 1000 <= this.now()) return false;
    return timingSafeEqual(Buffer.from(m[2] as string), Buffer.from(this.sign(expiresAt)));
  }

  private bearer(req: Request): string | undefined {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    return m?.[1];
  }

  /** What the request carries: a valid token, a valid session, or nothing valid (and why). */
  private credential(req: Request, allowCookie: boolean): 'token' | 'session' | 'missing' | 'invalid' {
    const token = this.bearer(req);
    if (token !== undefined) return sameSecret(token, this.expected) ? 'token' : 'invalid';
    if (req.get('authorization') !== undefined) return 'invalid';
    if (!allowCookie) return 'missing';
    const cookie = parseCookie(req.get('cookie') ?? '')[HOST_SESSION_COOKIE];
    if (cookie === undefined) return 'missing';
    return this.validSession(cookie) ? 'session' : 'invalid';
  }

  private async refuse(req: Request, res: Response, reason: 'missing' | 'invalid'): Promise<void> {
    const admission = await this.options.rateLimits.hostFailures(req.ip ?? 'unknown');
    if (!admission.allowed) {
      return sendError(res, 429, 'too many failed host sign-ins from this address; retry after the Retry-After delay', { retryAfterSeconds: admission.retryAfterSeconds });
    }
    this.options.metrics.hostAuthFailures.inc({ reason });
    res.set('www-authenticate', 'Bearer realm="live vote host"');
    sendError(res, 401, reason === 'missing' ? 'host token required: send Authorization: Bearer <HOST_TOKEN>' : 'host token or session is not valid');
  }

  /** Lets a request with the token or a live session through; 401 (or 429 when guessing) otherwise. */
  require(options: { allowCookie: boolean } = { allowCookie: true }): RequestHandler {
    return (req, res, next) => {
      const c = this.credential(req, options.allowCookie);
      if (c === 'token' || c === 'session') return next();
      void this.refuse(req, res, c).catch(next);
    };
  }

  /** Sets the session cookie: HttpOnly (no script reads it), SameSite=Strict, only on host routes. */
  setSession(req: Request, res: Response): void {
    res.cookie(HOST_SESSION_COOKIE, this.sessionValue(), {
      httpOnly: true,
      sameSite: 'strict',
      secure: req.secure,
      path: COOKIE_PATH,
      maxAge: SESSION_SECONDS * 1000,
    });
  }

  clearSession(req: Request, res: Response): void {
    res.clearCookie(HOST_SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: COOKIE_PATH });
  }
}
