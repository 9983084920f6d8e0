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
import { openApiRoute } from './openapi-route.ts';
import { sendError } from './http-errors.ts';
import { clientAddress, type TrustProxy } from './client-address.ts';
import { RATE_LIMITED_MESSAGE, type RateLimits } from './rate-limits.ts';
import { corsPolicy } from './cors-policy.ts';
import { hostRoutes, type HostRoutesOptions } from './host-routes.ts';
import { HOST_PATH } from './host-auth.ts';
import type { WatcherCount } from './watcher-count.ts';

export interface AppDeps {
  intake: VoteIntake;
  tallies: TallyReader;
  hub: SseHub;
  metrics: ServerMetrics;
  logger: Logger;
  /** `TRUST_PROXY` compiled once: Express's `req.ip` and the stream route both use it. */
  trustProxy: TrustProxy;
  /** Origins besides the site's own whose pages may use the API (CORS, and POST past the cross-site guard). */
  allowedOrigins: readonly string[];
  rateLimits: RateLimits;
  /** Can take votes: Redis reachable and not shutting down (PostgreSQL is not needed for that). */
  ready: () => Promise<boolean>;
  /** The host controls (/api/host/*). */
  host: HostRoutesOptions;
  /** Open streams over every server process, for GET /api/watchers. */
  watchers: Pick<WatcherCount, 'total'>;
  /** A SvelteKit adapter-node `handler` to serve everything that is not the API. */
  clientHandler?: RequestHandler | undefined;
}

const codeClass = (status: number) => ['1xx', '2xx', '3xx', '4xx', '5xx'][Math.floor(status / 100) - 1] ?? 'other';

// A fixed set of route labels, never the raw path: a vote id in a label would grow without bound.
const routeLabels = new Map<string, string>([
  [ROUTES.vote, 'vote'],
  [ROUTES.results, 'results'],
  [ROUTES.stream, 'stream'],
  [ROUTES.watchers, 'watchers'],
  [ROUTES.hostSession, 'host'],
  [ROUTES.hostSessions, 'host'],
  [ROUTES.hostRound, 'host'],
  [ROUTES.hostRounds, 'host'],
]);
const voteStatusPrefix = ROUTES.voteStatus.slice(0, ROUTES.voteStatus.indexOf(':'));
const routeLabel = (path: string) => routeLabels.get(path) ?? (path.startsWith(voteStatusPrefix) ? 'vote_status' : 'other');

/** Builds the Express app; `main.ts` listens and shuts down. */
export function buildApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', deps.trustProxy);

  app.get(ROUTES.healthz, (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get(ROUTES.readyz, async (_req, res) => {
    const ok = await deps.ready().catch(() => false);
    res.status(ok ? 200 : 503).json({ ready: ok });
  });

  const tagRequest: RequestHandler = (req, res, next) => {
    // A request ID for the logs: the proxy's, when it sent a sane one, else our own.
    const given = req.get('x-request-id');
    const id = given && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    res.locals.requestId = id;
    res.set('x-request-id', id);
    const route = routeLabel(req.baseUrl + req.path);
    res.once('finish', () => deps.metrics.httpResponses.inc({ route, code: codeClass(res.statusCode) }));
    next();
  };
  // An API answers JSON only: nothing may be framed, sniffed or run as a page.
  const apiHeaders = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: 'same-origin' },
  });
  // CORS for the ALLOWED_ORIGINS, preflights included (answered 204 here, before any route);
  // never for the host's routes, which only the site's own pages may use. Which requests those
  // are is Express's own match (case-insensitive, as the host router's), not a string compare
  // that /api/HOST/… would slip past.
  const cors = corsPolicy(deps.allowedOrigins);
  app.use(ROUTES.api, tagRequest, apiHeaders);
  app.use(HOST_PATH, (_req, res, next) => {
    res.locals.hostRoute = true;
    next();
  });
  app.use(ROUTES.api, (req, res, next) => (res.locals.hostRoute === true ? next() : cors(req, res, next)));
  app.post(ROUTES.vote, deps.rateLimits.votes);
  app.use(voteRoutes({ intake: deps.intake, tallies: deps.tallies, metrics: deps.metrics, allowedOrigins: deps.allowedOrigins }));
  app.get(ROUTES.watchers, async (_req, res) => {
    try {
      res.set('cache-control', 'no-store').json({ watchers: await deps.watchers.total() });
    } catch {
      deps.metrics.dependencyErrors.inc({ dependency: 'redis' });
      sendError(res, 503, 'temporarily unavailable, retry shortly', { retryAfterSeconds: 5 });
    }
  });
  app.use(hostRoutes(deps.host));
  app.use(openApiRoute());
  app.use(ROUTES.api, (_req, res) => sendError(res, 404, 'no such API route'));
  // The metrics count votes per option even while a round's results are hidden, so they are on
  // the ops port alone (main.ts); here /metrics is answered before the client could take it.
  app.use(ROUTES.metrics, tagRequest, apiHeaders, (_req, res) => sendError(res, 404, 'no such route: metrics are served on the ops port'));

  if (deps.clientHandler) app.use(deps.clientHandler);

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') {
      deps.metrics.votesRejected.inc({ reason: 'too_large' });
      return sendError(res, 413, 'body too large (1 KB at most)');
    }
    if (e.type === 'entity.parse.failed') {
      deps.metrics.votesRejected.inc({ reason: 'malformed_json' });
      return sendError(res, 400, 'body is not valid JSON');
    }
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
      deps.metrics.votesRejected.inc({ reason: 'unsupported_media_type' });
      return sendError(res, 415, 'unsupported body encoding');
    }
    if (e.status && e.status >= 400 && e.status < 500) return sendError(res, e.status, e.message ?? 'bad request');
    deps.logger.error({ err: e.message, requestId: res.locals.requestId, method: req.method, path: req.path }, 'unhandled error');
    if (!res.headersSent) sendError(res, 500, 'internal error');
  };
  app.use(onError);
  return app;
}

/**
 * `GET /api/stream` on plain node:http, ahead of Express: a stream lives for hours, and
 * everything Express and its middleware hang on a request (router state, helmet's headers,
 * locals) would live with it — about 9 KB per watcher in the benchmark (docs/performance.md).
 * It sees the same client address as Express (the same compiled trust function, through
 * proxy-addr), counts against the same Redis rate limit and feeds the same metrics.
 */
export function withStreamRoute(
  app: Express,
  deps: Pick<AppDeps, 'hub' | 'metrics' | 'rateLimits' | 'logger' | 'trustProxy'> & Partial<Pick<AppDeps, 'allowedOrigins'>>,
): http.RequestListener {
  const cors = corsPolicy(deps.allowedOrigins ?? []);
  return (req, res) => {
    const isStream = req.method === 'GET' && (req.url ?? '').split('?')[0] === ROUTES.stream;
    // One stream per connection, claimed before the (asynchronous) rate limit; see SseHub.admit.
    if (!deps.hub.admit(req, res, isStream)) return;
    if (!isStream) return void app(req, res);
    res.once('finish', () => deps.metrics.httpResponses.inc({ route: 'stream', code: codeClass(res.statusCode) }));
    res.setHeader('x-content-type-options', 'nosniff');
    cors(req, res, () => {});
    const ip = clientAddress(req, deps.trustProxy);
    void deps.rateLimits.streams(ip).then(
      (admission) => {
        if (admission.allowed) return deps.hub.connect(req, res, ip);
        sendError(res, 429, RATE_LIMITED_MESSAGE, { retryAfterSeconds: admission.retryAfterSeconds });
      },
      (err: unknown) => {
        deps.logger.warn({ err: (err as Error).message }, 'stream rate limiter failed; stream allowed');
        return deps.hub.connect(req, res, ip);
      },
    );
  };
}

/** Loads the SvelteKit adapter-node handler from a build directory. */
export async function loadClientHandler(dir: string): Promise<RequestHandler> {
  const mod = (await import(pathToFileURL(path.resolve(dir, 'handler.js')).href)) as { handler: RequestHandler };
  return mod.handler;
}
