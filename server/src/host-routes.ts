import express, { type ErrorRequestHandler, type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { ROUTES, RoundPatch, type HostRound, type RoundTally } from '@livevote/contract';
import type { HostAuth } from './host-auth.ts';
import type { ServerMetrics } from './metrics.ts';
import type { RoundStore } from './round-store.ts';
import type { RoundStateCopy } from './round-state.ts';
import { crossSiteGuard } from './cross-site-guard.ts';
import { sendError } from './http-errors.ts';
import { hasNoBody, jsonContentType } from './json-body.ts';

export interface HostRoutesOptions {
  auth: HostAuth;
  rounds: RoundStore;
  /** Where votes read the round state; written inside each change's transaction. */
  stateCopy: Pick<RoundStateCopy, 'write'>;
  /** Tells every screen (all server processes) about a change; failures are logged, not fatal. */
  announce: (t: RoundTally) => Promise<void>;
  metrics: ServerMetrics;
  logger: Logger;
  allowedOrigins: readonly string[];
}

type Action = 'new_round' | 'voting_open' | 'voting_closed' | 'results_shown' | 'results_hidden' | 'session_opened' | 'session_closed';

const tallyOf = ({ openedAt: _o, closedAt: _c, ...t }: HostRound): RoundTally => t;

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
  const changed = async (req: Request, res: Response, round: HostRound, status: number, actions: Action[]) => {
    for (const a of actions) audit(req, a, round);
    await options.announce(tallyOf(round)).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'host change not announced; screens catch up on their next re-read'));
    res.set('cache-control', 'no-store');
    res.status(status).json(status === 201 ? { round: round.round } : round);
  };
  const write = (state: Parameters<RoundStateCopy['write']>[0]) => options.stateCopy.write(state, true).then(() => {});

  const guard = crossSiteGuard(options.allowedOrigins, 'cross-site host request refused', () => metrics.hostAuthFailures.inc({ reason: 'cross_site' }));
  router.use(ROUTES.hostSession.slice(0, ROUTES.hostSession.lastIndexOf('/')), guard);

  router.post(ROUTES.hostSession, auth.require({ allowCookie: false }), (req, res) => {
    auth.setSession(req, res);
    audit(req, 'session_opened');
    res.status(204).end();
  });
  router.delete(ROUTES.hostSession, (req, res) => {
    auth.clearSession(req, res);
    audit(req, 'session_closed');
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

  router.post(ROUTES.hostRounds, auth.require(), async (req, res) => {
    let round: HostRound;
    try {
      round = await rounds.startRound(write);
    } catch (err) {
      return failed(res, err);
    }
    await changed(req, res, round, 201, ['new_round']);
  });

  const json = express.json({ limit: '1kb', strict: true, type: () => true });
  router.patch(
    ROUTES.hostRound,
    auth.require(),
    (req, res, next) => {
      const type = jsonContentType(req.get('content-type'));
      if (type !== 'json') return sendError(res, 415, type === 'not-utf8' ? 'JSON must be sent as UTF-8 (charset=utf-8 or none)' : 'send the change as application/json');
      if (hasNoBody(req)) return sendError(res, 400, 'body is empty: send {"voting":"open"|"closed"} and/or {"results":"shown"|"hidden"}');
      next();
    },
    json,
    async (req, res) => {
      const parsed = RoundPatch.safeParse(req.body);
      if (!parsed.success) {
        return sendError(res, 422, 'body must be {"voting":"open"|"closed","results":"shown"|"hidden"} (either or both)', {
          fields: { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
        });
      }
      let round: HostRound;
      try {
        round = await rounds.update(parsed.data, write);
      } catch (err) {
        return failed(res, err);
      }
      const actions: Action[] = [];
      if (parsed.data.voting) actions.push(parsed.data.voting === 'open' ? 'voting_open' : 'voting_closed');
      if (parsed.data.results) actions.push(parsed.data.results === 'shown' ? 'results_shown' : 'results_hidden');
      await changed(req, res, round, 200, actions);
    },
  );

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
