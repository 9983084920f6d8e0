import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { ROUTES } from '@livevote/contract';
import type { ServerMetrics } from './metrics.ts';
import type { SseHub } from './sse-hub.ts';
import type { TallyReader } from './tally-reader.ts';
import type { VoteIntake } from './vote-intake.ts';
import { voteRoutes } from './vote-routes.ts';
import { sendError } from './http-errors.ts';

export interface AppDeps {
  intake: VoteIntake;
  tallies: TallyReader;
  hub: SseHub;
  metrics: ServerMetrics;
  logger: Logger;
  trustProxy: number | string[];
  allowedOrigins: readonly string[];
  rateLimits: { votes: RequestHandler; streams: RequestHandler };
  /** Redis and PostgreSQL reachable and not shutting down. */
  ready: () => Promise<boolean>;
  /** A SvelteKit adapter-node `handler` to serve everything that is not the API. */
  clientHandler?: RequestHandler | undefined;
}

/** Builds the Express app; `main.ts` listens and shuts down. */
export function buildApp(d: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', d.trustProxy);

  app.get(ROUTES.healthz, (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get(ROUTES.readyz, async (_req, res) => {
    const ok = await d.ready().catch(() => false);
    res.status(ok ? 200 : 503).json({ ready: ok });
  });
  app.get(ROUTES.metrics, async (_req, res) => {
    res.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics());
  });

  const api = express.Router();
  const codeClass = ['1xx', '2xx', '3xx', '4xx', '5xx'];
  // A fixed set of route labels, never the raw path: a vote id in a label would grow without bound.
  const routeOf = (p: string) =>
    p === '/vote' ? 'vote' : p.startsWith('/vote/') ? 'vote_status' : p === '/results' ? 'results' : p === '/stream' ? 'stream' : 'other';
  api.use((req, res, next) => {
    // A request ID for the logs: the proxy's, when it sent a sane one, else our own.
    const given = req.get('x-request-id');
    const id = given && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    res.locals.requestId = id;
    res.set('x-request-id', id);
    const route = routeOf(req.path);
    res.once('finish', () => d.metrics.httpResponses.inc({ route, code: codeClass[Math.floor(res.statusCode / 100) - 1] ?? 'other' }));
    next();
  });
  // An API answers JSON only: nothing may be framed, sniffed or run as a page.
  api.use(
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      crossOriginResourcePolicy: { policy: 'same-origin' },
    }),
  );
  api.post('/vote', d.rateLimits.votes);
  api.use(voteRoutes({ intake: d.intake, tallies: d.tallies, metrics: d.metrics, allowedOrigins: d.allowedOrigins }));
  api.use((_req, res) => sendError(res, 404, 'no such API route'));
  app.use('/api', api);

  if (d.clientHandler) app.use(d.clientHandler);

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') {
      d.metrics.votesRejected.inc({ reason: 'too_large' });
      return sendError(res, 413, 'body too large (1 KB at most)');
    }
    if (e.type === 'entity.parse.failed') {
      d.metrics.votesRejected.inc({ reason: 'malformed_json' });
      return sendError(res, 400, 'body is not valid JSON');
    }
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
      d.metrics.votesRejected.inc({ reason: 'unsupported_media_type' });
      return sendError(res, 415, 'unsupported body encoding');
    }
    if (e.status && e.status >= 400 && e.status < 500) return sendError(res, e.status, e.message ?? 'bad request');
    d.logger.error({ err: e.message, requestId: res.locals.requestId, method: req.method, path: req.path }, 'unhandled error');
    if (!res.headersSent) sendError(res, 500, 'internal error');
  };
  app.use(onError);
  return app;
}

/**
 * `GET /api/stream` on plain node:http, ahead of Express: a stream lives for hours, and
 * everything Express and its middleware hang on a request (router state, helmet's headers,
 * locals) would live with it — about 9 KB per watcher in the benchmark (docs/performance.md).
 * It gets the same client address (Express's compiled `trust proxy`), rate limiter and metrics.
 */
export function withStreamRoute(app: Express, d: Pick<AppDeps, 'hub' | 'metrics' | 'rateLimits' | 'logger'>): http.RequestListener {
  return (rawReq, rawRes) => {
    const path = (rawReq.url ?? '').split('?')[0];
    if (path !== '/api/stream' || rawReq.method !== 'GET') return void app(rawReq, rawRes);
    // Give the request and response Express's prototypes, as Express itself does before routing:
    // req.ip then honours `trust proxy`, and the rate limiter finds the methods it uses.
    const req = Object.setPrototypeOf(rawReq, app.request) as express.Request;
    const res = Object.setPrototypeOf(rawRes, app.response) as express.Response;
    Object.assign(req, { app, res });
    Object.assign(res, { app, req });
    res.once('finish', () => d.metrics.httpResponses.inc({ route: 'stream', code: `${Math.floor(res.statusCode / 100)}xx` }));
    res.setHeader('x-content-type-options', 'nosniff');
    void d.rateLimits.streams(req, res, (err?: unknown) => {
      if (err) d.logger.warn({ err: (err as Error).message }, 'stream rate limiter failed; stream allowed');
      void d.hub.connect(req, res, req.ip ?? 'unknown');
    });
  };
}

/** Loads the SvelteKit adapter-node handler from a build directory. */
export async function loadClientHandler(dir: string): Promise<RequestHandler> {
  const mod = (await import(pathToFileURL(path.resolve(dir, 'handler.js')).href)) as { handler: RequestHandler };
  return mod.handler;
}
