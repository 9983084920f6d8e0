import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { sendError } from './http-errors.ts';

/**
 * Forced-request protection for votes and host actions. Browsers say where a request comes from
 * in Sec-Fetch-Site; older ones only in Origin. A request with neither is not from a browser page
 * (curl, k6) and is allowed: CSRF needs a victim's browser.
 */
export function crossSiteGuard(allowed: readonly string[], message: string, onRefused: () => void): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.get('origin');
    const site = req.get('sec-fetch-site');
    const own = `${req.protocol}://${req.get('host')}`;
    const originOk = origin === undefined || origin === own || allowed.includes(origin);
    const ok = site === undefined ? originOk : site === 'same-origin' || site === 'none' || (origin !== undefined && allowed.includes(origin));
    if (ok) return next();
    onRefused();
    sendError(res, 403, message);
  };
}
