import express, { type Response, type Router } from 'express';
import { IDEMPOTENCY_KEY_PATTERN, ROUTES, VoteRequest } from '@livevote/contract';
import type { VoteIntake } from './vote-intake.ts';
import type { TallyReader } from './tally-reader.ts';
import type { ServerMetrics } from './metrics.ts';
import { sendError } from './http-errors.ts';
import { hasNoBody, jsonContentType } from './json-body.ts';
import { publicResults } from './results-view.ts';
import { crossSiteGuard } from './cross-site-guard.ts';
import { BAD_IDEMPOTENCY_KEY, idempotencyKey } from './idempotency-key.ts';

export interface VoteRoutesOptions {
  intake: VoteIntake;
  tallies: TallyReader;
  metrics: ServerMetrics;
  /** Origins besides the request's own that may POST votes. */
  allowedOrigins: readonly string[];
}

/** The vote was not stored (or the read failed): retrying shortly is safe. */
const unavailable = (res: Response, retryAfterSeconds: number) => sendError(res, 503, 'temporarily unavailable, retry shortly', { retryAfterSeconds });

/**
 * The vote was sent to Redis but its answer did not come in time: it may or may not be stored.
 * No Retry-After — a keyless retry could count twice. The client retries with its
 * Idempotency-Key (always safe) or asks `GET /api/vote/:id` later.
 */
const outcomeUnknown = (res: Response, id: string) => sendError(res, 504, 'outcome unknown', { fields: { id } });

export function voteRoutes(options: VoteRoutesOptions): Router {
  const router = express.Router();
  const { metrics } = options;
  // Body parsing only for this route, only JSON, at most 1 KB: nothing else is ever buffered.
  // `verify` sees the raw bytes: an empty body is a 400, not the `{}` body-parser makes of it.
  const json = express.json({ limit: '1kb', strict: true, type: () => true, verify: (_req, res, buf) => void ((res as Response).locals.emptyBody = buf.length === 0) });
  const emptyBody = (res: Response) => {
    metrics.votesRejected.inc({ reason: 'invalid_body' });
    sendError(res, 400, 'body is empty: send {"option":"cats"} or {"option":"dogs"}');
  };

  router.post(
    ROUTES.vote,
    (req, res, next) => {
      const type = jsonContentType(req.get('content-type'));
      if (type !== 'json') {
        metrics.votesRejected.inc({ reason: 'unsupported_media_type' });
        return sendError(res, 415, type === 'not-utf8' ? 'JSON must be sent as UTF-8 (charset=utf-8 or none)' : 'send the vote as application/json');
      }
      if (hasNoBody(req)) return emptyBody(res);
      next();
    },
    crossSiteGuard(options.allowedOrigins, 'cross-site vote refused', () => metrics.votesRejected.inc({ reason: 'cross_site' })),
    json,
    async (req, res) => {
      if (res.locals.emptyBody) return emptyBody(res);
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
        return sendError(res, 400, BAD_IDEMPOTENCY_KEY);
      }
      const result = await options.intake.cast(parsed.data.option, key);
      if (result.kind === 'not-stored') {
        metrics.dependencyErrors.inc({ dependency: 'redis' });
        metrics.votesRejected.inc({ reason: 'unavailable' });
        return unavailable(res, 1);
      }
      if (result.kind === 'unknown') {
        metrics.dependencyErrors.inc({ dependency: 'redis' });
        metrics.votesOutcomeUnknown.inc();
        return outcomeUnknown(res, result.id);
      }
      // The record of a counted vote is gone from Redis (the consumer drops it): a retry of its key
      // after the close is still answered as the first request was.
      if (result.kind === 'closed' && key !== undefined && (await options.tallies.countedIn(key, { primary: true }).catch(() => null))) {
        res.set('idempotent-replayed', 'true');
        return void res.status(202).json({ id: result.id });
      }
      if (result.kind === 'closed') {
        metrics.votesRejected.inc({ reason: 'voting_closed' });
        return sendError(res, 409, 'voting is closed');
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
      const counted = await options.tallies.countedIn(id);
      res.set('cache-control', 'no-store');
      if (counted === null) return void res.json({ id, counted: false });
      // A counted vote's seq steps with every batch: while its round's results are hidden, and
      // for good once a round ended hidden, it would let a voter count the votes by comparing
      // the seqs of their own. Counted, and where, is theirs.
      res.json(counted.shown ? { id, counted: true, seq: counted.seq, round: counted.round } : { id, counted: true, round: counted.round });
    } catch {
      metrics.dependencyErrors.inc({ dependency: 'postgres' });
      unavailable(res, 1);
    }
  });

  // PostgreSQL away: the last known tally, with `Age` and `stale`/`ageSeconds` added; 503 only when none is known.
  router.get(ROUTES.results, async (_req, res) => {
    try {
      const read = await options.tallies.read();
      res.set('cache-control', 'no-store');
      const value = publicResults(read.value);
      if (!read.stale) return void res.json(value);
      metrics.dependencyErrors.inc({ dependency: 'postgres' });
      res.set('age', String(read.ageSeconds));
      res.json({ ...value, stale: true, ageSeconds: read.ageSeconds });
    } catch {
      metrics.dependencyErrors.inc({ dependency: 'postgres' });
      unavailable(res, 2);
    }
  });

  return router;
}
