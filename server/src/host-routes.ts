import { randomUUID } from 'node:crypto';
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { ROUTES, RoundPatch, RoundStart, type HostRound, type RoundTally } from '@livevote/contract';
import { HOST_PATH, type HostAuth } from './host-auth.ts';
import type { HostSessionEpoch } from './host-session-epoch.ts';
import type { ServerMetrics } from './metrics.ts';
import { ChangeKeyReusedError, ChangeOutcomeUnknownError, type ChangeOutcome, type HostChange, type RoundStore } from './round-store.ts';
import type { RoundStateCopy } from './round-state.ts';
import { crossSiteGuard } from './cross-site-guard.ts';
import { sendError } from './http-errors.ts';
import { hasNoBody, jsonContentType } from './json-body.ts';
import { BAD_IDEMPOTENCY_KEY, idempotencyKey } from './idempotency-key.ts';

export interface HostRoutesOptions {
  auth: HostAuth;
  rounds: RoundStore;
  /** Where votes read the round state; written after each change's COMMIT, before its answer. */
  stateCopy: Pick<RoundStateCopy, 'write' | 'restore'>;
  /** Tells every screen (all server processes) about a change; failures are logged, not fatal. */
  announce: (t: RoundTally) => Promise<void>;
  /** The host sessions' epoch: "sign out everywhere" moves it on. */
  epoch: Pick<HostSessionEpoch, 'revoke'>;
  metrics: ServerMetrics;
  logger: Logger;
}

type Action = 'new_round' | 'voting_open' | 'voting_closed' | 'results_shown' | 'results_hidden' | 'session_opened' | 'session_closed' | 'sessions_revoked';

const tallyOf = ({ openedAt: _o, closedAt: _c, ...t }: HostRound): RoundTally => t;

/** The audit actions of what a change did: only what it changed, so a no-op leaves no line. */
function actionsOf({ changes, round }: ChangeOutcome): Action[] {
  return changes.map((c) => (c === 'round' ? 'new_round' : c === 'voting' ? (round.voting === 'open' ? 'voting_open' : 'voting_closed') : round.results === 'shown' ? 'results_shown' : 'results_hidden'));
}

/**
 * The host's controls: sign in, start a round, open/close voting, hide/reveal results, and read
 * the numbers even while they are hidden. Every action is an audit log line (what, when, from
 * which address) and a count in livevote_host_actions_total.
 */
export function hostRoutes(options: HostRoutesOptions): Router {
  const { auth, rounds, metrics, logger } = options;
  const router = express.Router();
  const audit = (req: Request, action: Action, round?: HostRound) => {
    metrics.hostActions.inc({ action });
    logger.info(
      { audit: 'host', action, address: req.ip, requestId: req.res?.locals.requestId, ...(round ? { round: round.round, voting: round.voting, results: round.results } : {}) },
      'host action',
    );
  };
  const failed = (res: Response, err: unknown) => {
    metrics.dependencyErrors.inc({ dependency: 'postgres' });
    logger.warn({ err: (err as Error).message }, 'host action failed; nothing changed');
    sendError(res, 503, 'nothing changed: the database or Redis is unavailable; retry shortly', { retryAfterSeconds: 1 });
  };
  // Same origin only: ALLOWED_ORIGINS opens votes and results to other pages, never the host's
  // controls (a sibling subdomain is same-site, so SameSite=Strict alone would send the cookie).
  const guard = crossSiteGuard([], 'cross-site host request refused', () => metrics.hostAuthFailures.inc({ reason: 'cross_site' }));
  router.use(HOST_PATH, guard);

  router.post(ROUTES.hostSession, auth.require({ allowCookie: false }), async (req, res) => {
    try {
      await auth.setSession(req, res);
    } catch (err) {
      return failed(res, err);
    }
    audit(req, 'session_opened');
    res.status(204).end();
  });
  // Anyone may clear their own cookie; only a request that was signed in is a host action.
  router.delete(ROUTES.hostSession, async (req, res) => {
    const signedIn = await auth.credential(req);
    auth.clearSession(req, res);
    if (signedIn === 'token' || signedIn === 'session') audit(req, 'session_closed');
    res.status(204).end();
  });
  // Sign out everywhere: every session cookie issued so far stops working, on every server.
  router.delete(ROUTES.hostSessions, auth.require(), async (req, res) => {
    try {
      await options.epoch.revoke();
    } catch (err) {
      return failed(res, err);
    }
    auth.clearSession(req, res);
    audit(req, 'sessions_revoked');
    res.status(204).end();
  });

  router.get(ROUTES.hostRound, auth.require(), async (_req, res) => {
    try {
      const round = await rounds.current();
      res.set('cache-control', 'no-store').json(round);
    } catch (err) {
      failed(res, err);
    }
  });

  router.get(ROUTES.hostRounds, auth.require(), async (_req, res) => {
    try {
      res.set('cache-control', 'no-store').json({ rounds: await rounds.list() });
    } catch (err) {
      failed(res, err);
    }
  });

  /**
   * One host change, exactly once per Idempotency-Key: recorded in PostgreSQL, then put where
   * votes read it (Redis, on REDIS_ACK_REPLICAS replicas), and only then answered. A change the
   * record holds but Redis does not yet is answered 504, never 200: a vote could still be taken
   * by the old state, and the host's retry with the same key puts it there.
   */
  const changeRound = async (req: Request, res: Response, change: HostChange) => {
    const given = idempotencyKey(req);
    if (given === null) return sendError(res, 400, BAD_IDEMPOTENCY_KEY);
    const key = given ?? randomUUID();
    let done: ChangeOutcome;
    try {
      done = await rounds.change(key, change);
    } catch (err) {
      if (err instanceof ChangeKeyReusedError) return sendError(res, 422, err.message);
      if (err instanceof ChangeOutcomeUnknownError) {
        metrics.dependencyErrors.inc({ dependency: 'postgres' });
        logger.warn({ err: err.message, key }, 'host change outcome unknown: COMMIT sent, no answer');
        return sendError(res, 504, 'outcome unknown: the change may have been made; retry with the same Idempotency-Key', { fields: { key } });
      }
      return failed(res, err);
    }
    const inEffect = done.state !== null && (await options.stateCopy.write(done.state).catch(() => false));
    if (!inEffect) {
      metrics.dependencyErrors.inc({ dependency: 'redis' });
      logger.warn({ key, round: done.round.round }, 'host change recorded but not yet where votes read it; the round-state check puts it there');
      options.stateCopy.restore().catch(() => {});
      return sendError(res, 504, 'recorded, not yet in effect: Redis did not take the change in time; retry with the same Idempotency-Key', { fields: { key } });
    }
    if (done.outcome === 'replayed') res.set('idempotent-replayed', 'true');
    if (done.outcome === 'committed') {
      for (const a of actionsOf(done)) audit(req, a, done.round);
      await options.announce(tallyOf(done.round)).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'host change not announced; screens catch up on their next re-read'));
    }
    res.set('cache-control', 'no-store');
    res.status(done.status).json(done.status === 201 ? { round: done.round.round } : done.round);
  };

  const json = express.json({ limit: '1kb', strict: true, type: () => true });
  /** A JSON body, or (when `optional`) none at all. */
  const jsonBody = (optional: boolean, hint: string): RequestHandler => (req, res, next) => {
    if (optional && hasNoBody(req)) {
      req.body = {};
      return next();
    }
    const type = jsonContentType(req.get('content-type'));
    if (type !== 'json') return sendError(res, 415, type === 'not-utf8' ? 'JSON must be sent as UTF-8 (charset=utf-8 or none)' : 'send the change as application/json');
    if (hasNoBody(req)) return sendError(res, 400, `body is empty: send ${hint}`);
    json(req, res, next);
  };
  const invalid = (res: Response, hint: string, error: { issues: { path: PropertyKey[]; message: string }[] }) =>
    sendError(res, 422, `body must be ${hint}`, { fields: { issues: error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) } });

  const START_HINT = '{"voting":"open"|"closed","results":"shown"|"hidden"} (either, both or none) or no body';
  router.post(ROUTES.hostRounds, auth.require(), jsonBody(true, START_HINT), async (req, res) => {
    const parsed = RoundStart.safeParse(req.body);
    if (!parsed.success) return invalid(res, START_HINT, parsed.error);
    await changeRound(req, res, { kind: 'new-round', start: parsed.data });
  });

  const PATCH_HINT = '{"voting":"open"|"closed","results":"shown"|"hidden"} (either or both)';
  router.patch(ROUTES.hostRound, auth.require(), jsonBody(false, PATCH_HINT), async (req, res) => {
    const parsed = RoundPatch.safeParse(req.body);
    if (!parsed.success) return invalid(res, PATCH_HINT, parsed.error);
    await changeRound(req, res, { kind: 'patch', patch: parsed.data });
  });

  // Body errors of the PATCH, answered here so they are not counted as vote rejections.
  const bodyErrors: ErrorRequestHandler = (err, _req, res, next) => {
    const e = err as { type?: string };
    if (e.type === 'entity.too.large') return sendError(res, 413, 'body too large (1 KB at most)');
    if (e.type === 'entity.parse.failed') return sendError(res, 400, 'body is not valid JSON');
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') return sendError(res, 415, 'unsupported body encoding');
    next(err);
  };
  router.use(bodyErrors);
  return router;
}
