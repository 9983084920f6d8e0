import express, { type Request, type Response, type NextFunction, type Router } from 'express';
import { IDEMPOTENCY_KEY_PATTERN, ROUTES, VoteRequest } from '@livevote/contract';
import type { VoteIntake } from './vote-intake.ts';
import type { TallyReader } from './tally-reader.ts';
import type { ServerMetrics } from './metrics.ts';
import { sendError } from './http-errors.ts';

export interface VoteRoutesOptions {
  intake: VoteIntake;
  tallies: TallyReader;
  metrics: ServerMetrics;
  /** Origins besides the request's own that may POST votes. */
  allowedOrigins: readonly string[];
}

/**
 * Forced-vote protection. Browsers say where a request comes from in Sec-Fetch-Site; older ones
 * only in Origin. A request with neither is not from a browser page (curl, k6) and is allowed:
 * CSRF needs a victim's browser.
 */
function crossSiteGuard(allowed: readonly string[], metrics: ServerMetrics) {
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.get('origin');
    const site = req.get('sec-fetch-site');
    const own = `${req.protocol}://${req.get('host')}`;
    const originOk = origin === undefined || origin === own || allowed.includes(origin);
    const ok = site === undefined ? originOk : site === 'same-origin' || site === 'none' || (origin !== undefined && allowed.includes(origin));
    if (ok) return next();
    metrics.votesRejected.inc({ reason: 'cross_site' });
    sendError(res, 403, 'cross-site vote refused');
  };
}

/** An sf-string per the Idempotency-Key draft: optional surrounding quotes. */
function idempotencyKey(req: Request): string | undefined | null {
  const raw = req.get('idempotency-key');
  if (raw === undefined) return undefined;
  const key = raw.trim().replace(/^"(.*)"$/, '$1');
  return IDEMPOTENCY_KEY_PATTERN.test(key) ? key : null;
}

/** The vote was not stored (or the read failed): retrying shortly is safe. */
const unavailable = (res: Response, retryAfterSeconds: number) => sendError(res, 503, 'temporarily unavailable, retry shortly', { retryAfterSeconds });

export function voteRoutes(options: VoteRoutesOptions): Router {
  const router = express.Router();
  const { metrics } = options;
  // Body parsing only for this route, only JSON, at most 1 KB: nothing else is ever buffered.
  const json = express.json({ limit: '1kb', strict: true, type: () => true });

  router.post(
    ROUTES.vote,
    (req, res, next) => {
      if (!req.is('application/json')) {
        metrics.votesRejected.inc({ reason: 'unsupported_media_type' });
        return sendError(res, 415, 'send the vote as application/json');
      }
      next();
    },
    crossSiteGuard(options.allowedOrigins, metrics),
    json,
    async (req, res) => {
      const parsed = VoteRequest.safeParse(req.body);
      if (!parsed.success) {
        metrics.votesRejected.inc({ reason: 'invalid_body' });
        return sendError(res, 422, 'body must be {"option":"cats"} or {"option":"dogs"}', {
          fields: { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
        });
      }
      const key = idempotencyKey(req);
      if (key === null) {
        metrics.votesRejected.inc({ reason: 'invalid_idempotency_key' });
        return sendError(res, 400, 'Idempotency-Key must be 8 to 128 characters of A-Z a-z 0-9 _ . : -');
      }
      let result;
      try {
        result = await options.intake.cast(parsed.data.option, key);
      } catch {
        metrics.dependencyErrors.inc({ dependency: 'redis' });
        metrics.votesRejected.inc({ reason: 'unavailable' });
        return unavailable(res, 1);
      }
      if (result.kind === 'key-reused') {
        metrics.votesRejected.inc({ reason: 'idempotency_key_reused' });
        return sendError(res, 422, 'this Idempotency-Key was already used for a different vote');
      }
      if (result.kind === 'replayed') res.set('idempotent-replayed', 'true');
      else metrics.votesAccepted.inc({ option: parsed.data.option });
      res.status(202).json({ id: result.id });
    },
  );

  router.get(ROUTES.voteStatus, async (req, res) => {
    const id = String(req.params.id);
    if (!IDEMPOTENCY_KEY_PATTERN.test(id)) return sendError(res, 400, 'not a vote id');
    try {
      const seq = await options.tallies.countedIn(id);
      res.set('cache-control', 'no-store');
      res.json(seq === null ? { id, counted: false } : { id, counted: true, seq });
    } catch {
      metrics.dependencyErrors.inc({ dependency: 'postgres' });
      unavailable(res, 1);
    }
  });

  router.get(ROUTES.results, async (_req, res) => {
    try {
      const results = await options.tallies.current();
      res.set('cache-control', 'no-store');
      res.json(results);
    } catch {
      metrics.dependencyErrors.inc({ dependency: 'postgres' });
      unavailable(res, 2);
    }
  });

  return router;
}
