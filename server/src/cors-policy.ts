import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from 'cors';

export type NodeMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * What a page on an allowed origin may send and read: the vote's JSON body and its key, and the
 * Last-Event-ID an EventSource sends when it reconnects; the retry and replay answers.
 */
export const CORS_ALLOWED_HEADERS = ['Content-Type', 'Idempotency-Key', 'Last-Event-ID'] as const;
export const CORS_EXPOSED_HEADERS = ['Retry-After', 'Idempotent-Replayed'] as const;

/**
 * CORS for exactly the `ALLOWED_ORIGINS` (validated at start-up: full origins, never `*`), by the
 * `cors` package. A request from any other origin gets no `Access-Control-Allow-*` at all, on a
 * preflight neither (so the browser refuses it); its answer still says `Vary: Origin`, since it
 * would differ for an allowed one. No credentials: the API has no cookies.
 */
export function corsPolicy(allowedOrigins: readonly string[]): NodeMiddleware {
  const allowed = new Set(allowedOrigins);
  if (allowed.size === 0) return (_req, _res, next) => next();
  const handle = cors({
    origin: [...allowed],
    methods: ['GET', 'POST'],
    allowedHeaders: [...CORS_ALLOWED_HEADERS],
    exposedHeaders: [...CORS_EXPOSED_HEADERS],
    maxAge: 600,
  }) as unknown as NodeMiddleware;
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin !== undefined && allowed.has(origin)) return handle(req, res, next);
    appendVaryOrigin(res);
    next();
  };
}

function appendVaryOrigin(res: ServerResponse): void {
  const vary = res.getHeader('vary');
  const current = Array.isArray(vary) ? vary.join(', ') : vary === undefined ? '' : String(vary);
  if (/(^|,)\s*(origin|\*)\s*(,|$)/i.test(current)) return;
  res.setHeader('vary', current ? `${current}, Origin` : 'Origin');
}
