import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createServerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'livevote_server_' });
  const m = {
    registry,
    votesAccepted: new Counter({
      name: 'livevote_votes_accepted_total',
      help: 'Votes answered 202 (in the stream), by option; replays of an idempotency key are not counted',
      labelNames: ['option'] as const,
      registers: [registry],
    }),
    votesRejected: new Counter({
      name: 'livevote_votes_rejected_total',
      help: 'Votes refused, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    httpResponses: new Counter({
      name: 'livevote_http_responses_total',
      help: 'API responses by route and status class (2xx, 4xx, 5xx)',
      labelNames: ['route', 'code'] as const,
      registers: [registry],
    }),
    dependencyErrors: new Counter({
      name: 'livevote_server_dependency_errors_total',
      help: 'Failed calls to Redis or PostgreSQL',
      labelNames: ['dependency'] as const,
      registers: [registry],
    }),
    votesOutcomeUnknown: new Counter({
      name: 'livevote_votes_outcome_unknown_total',
      help: 'Votes answered 504 "outcome unknown": sent to Redis, no answer within VOTE_OUTCOME_WAIT_MS (or the connection dropped after the write)',
      registers: [registry],
    }),
    votesLateOutcome: new Counter({
      name: 'livevote_votes_late_outcome_total',
      help: 'How votes answered 504 turned out once Redis answered: stored, not_stored, or unknown (connection dropped)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    redisMemoryUsed: new Gauge({
      name: 'livevote_redis_memory_used_bytes',
      help: 'Redis used_memory (INFO memory), sampled by the server',
      // Every server process samples the same Redis: summed over WEB_CONCURRENCY it would lie.
      aggregator: 'max',
      registers: [registry],
    }),
    redisMaxmemory: new Gauge({
      name: 'livevote_redis_maxmemory_bytes',
      help: 'Redis maxmemory (INFO memory); 0 means no limit. With noeviction, writes (votes) are refused beyond it',
      aggregator: 'max',
      registers: [registry],
    }),
    hostActions: new Counter({
      name: 'livevote_host_actions_total',
      help: 'Host actions carried out, by action (new_round, voting_open, voting_closed, results_shown, results_hidden, session_opened, session_closed)',
      labelNames: ['action'] as const,
      registers: [registry],
    }),
    hostAuthFailures: new Counter({
      name: 'livevote_host_auth_failures_total',
      help: 'Host requests refused for their credentials, by reason (missing, invalid, rate_limited)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    rateLimitStoreErrors: new Counter({
      name: 'livevote_rate_limit_store_errors_total',
      help: 'Rate-limit store calls to Redis that failed (the request was let through unlimited), by limiter',
      labelNames: ['limiter'] as const,
      registers: [registry],
    }),
    sseClients: new Gauge({ name: 'livevote_sse_clients', help: 'Connected SSE clients', registers: [registry] }),
    sseFrames: new Counter({ name: 'livevote_sse_frames_written_total', help: 'Tally frames written to SSE clients', registers: [registry] }),
    sseRejected: new Counter({
      name: 'livevote_sse_connections_rejected_total',
      help: 'SSE connections refused, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    sseDropped: new Counter({
      name: 'livevote_sse_clients_dropped_total',
      help: 'SSE clients disconnected by the server because they stopped reading',
      registers: [registry],
    }),
    voteToFrame: new Histogram({
      name: 'livevote_sse_vote_to_frame_seconds',
      help: 'From the API receiving the oldest vote in a tally to that tally being written to SSE clients',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
  // Every known label starts at 0, so dashboards show 0 rather than "no data" and increase()
  // sees the first event.
  for (const option of ['cats', 'dogs']) m.votesAccepted.inc({ option }, 0);
  for (const reason of ['invalid_body', 'malformed_json', 'too_large', 'unsupported_media_type', 'cross_site', 'invalid_idempotency_key', 'idempotency_key_reused', 'rate_limited', 'unavailable']) {
    m.votesRejected.inc({ reason }, 0);
  }
  for (const reason of ['shutting_down', 'server_full', 'address_full', 'rate_limited']) m.sseRejected.inc({ reason }, 0);
  for (const dependency of ['redis', 'postgres']) m.dependencyErrors.inc({ dependency }, 0);
  for (const outcome of ['stored', 'not_stored', 'unknown']) m.votesLateOutcome.inc({ outcome }, 0);
  for (const limiter of ['votes', 'streams']) m.rateLimitStoreErrors.inc({ limiter }, 0);
  return m;
}

export type ServerMetrics = ReturnType<typeof createServerMetrics>;
