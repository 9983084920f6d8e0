/**
 * The OpenAPI 3.1 document of the public HTTP API (`GET /api/openapi.json`), built from the
 * contract's zod schemas by zod's own JSON Schema output (draft 2020-12, the dialect of
 * OpenAPI 3.1), so a body schema here cannot drift from what the programs validate. The routes
 * and their statuses are listed here once; server/test/openapi.test.ts checks that every route
 * the server registers is in it and that real answers of a running stack match it.
 * Browser-safe like the rest of the contract: zod only.
 */
import { z } from 'zod';
import pkg from '../package.json' with { type: 'json' };
import { HOST_SESSION_COOKIE, HOST_SESSION_COOKIE_SECURE, IDEMPOTENCY_KEY_PATTERN, ROUTES, SSE_EVENT_TALLY } from './constants.ts';
import {
  ErrorBody,
  Health,
  HostRound,
  RoundCreated,
  RoundList,
  RoundPatch,
  RoundStart,
  HostChangeUnknown,
  Watchers,
  InvalidVoteBody,
  OutcomeUnknown,
  Readiness,
  Results,
  StaleResults,
  VoteAccepted,
  VoteRequest,
  VoteStatus,
} from './index.ts';

type Json = Record<string, unknown>;

/** `/api/vote/:id` (Express) → `/api/vote/{id}` (OpenAPI). */
export const openApiPath = (route: string): string => route.replace(/:([A-Za-z_]\w*)/g, '{$1}');

/** One zod schema as a JSON Schema 2020-12 object, without `$schema` (the document's dialect applies). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'throw' }) as Json;
  return rest;
}

const ref = (kind: 'schemas' | 'responses' | 'headers' | 'parameters', name: string) => ({ $ref: `#/components/${kind}/${name}` });
const json = (schema: Json) => ({ 'application/json': { schema } });
const KEY = IDEMPOTENCY_KEY_PATTERN.source.replace(/^\^|\$$/g, '');

const errorResponse = (description: string, headers: Json = {}) => ({
  description,
  headers: { 'X-Request-Id': ref('headers', 'XRequestId'), ...headers },
  content: json(ref('schemas', 'ErrorBody')),
});

/** The schemas the document names, each generated from the contract. */
function schemas(): Json {
  return {
    VoteRequest: jsonSchema(VoteRequest, 'input'),
    VoteAccepted: jsonSchema(VoteAccepted),
    VoteStatus: jsonSchema(VoteStatus),
    Results: jsonSchema(Results),
    StaleResults: jsonSchema(StaleResults),
    ErrorBody: jsonSchema(ErrorBody),
    InvalidVoteBody: jsonSchema(InvalidVoteBody),
    OutcomeUnknown: jsonSchema(OutcomeUnknown),
    Health: jsonSchema(Health),
    Readiness: jsonSchema(Readiness),
    Watchers: jsonSchema(Watchers),
    HostRound: jsonSchema(HostRound),
    RoundPatch: jsonSchema(RoundPatch, 'input'),
    RoundStart: jsonSchema(RoundStart, 'input'),
    HostChangeUnknown: jsonSchema(HostChangeUnknown),
    RoundCreated: jsonSchema(RoundCreated),
    RoundList: jsonSchema(RoundList),
    // The SSE framing around the contract's Results: one event as its fields.
    TallyEvent: {
      type: 'object',
      description: `One \`${SSE_EVENT_TALLY}\` event of ${ROUTES.stream}, as its fields: \`event: ${SSE_EVENT_TALLY}\`, \`id:\` the tally's \`seq\`, \`data:\` the totals as one line of JSON (Results).`,
      required: ['event', 'id', 'data'],
      additionalProperties: false,
      properties: {
        event: { const: SSE_EVENT_TALLY },
        id: { type: 'string', pattern: '^\\d+$', description: 'The tally `seq`; a reconnecting EventSource sends it back as Last-Event-ID.' },
        data: { type: 'string', contentMediaType: 'application/json', contentSchema: ref('schemas', 'Results') },
      },
    },
  };
}

const headers = {
  RetryAfter: {
    description: 'Seconds to wait before trying again (RFC 9110 §10.2.3).',
    required: true,
    schema: { type: 'integer', minimum: 0 },
  },
  IdempotentReplayed: {
    description: 'Present on a repeat of an Idempotency-Key: this answer is the stored first result, not a new vote.',
    schema: { type: 'string', const: 'true' },
  },
  XRequestId: {
    description: "The request's ID in the server's logs: the proxy's X-Request-Id when it sent a sane one, else a fresh one.",
    schema: { type: 'string', pattern: '^[\\w.:-]{1,128}$' },
  },
  RateLimit: {
    description: 'What is left of the per-address vote limit (draft-ietf-httpapi-ratelimit-headers-08), while rate limiting is on.',
    schema: { type: 'string' },
  },
  RateLimitPolicy: {
    description: 'The per-address vote limit and its window (draft-ietf-httpapi-ratelimit-headers-08), while rate limiting is on.',
    schema: { type: 'string' },
  },
  Age: {
    description: 'Seconds since this stale tally was read (sent only with `"stale": true`).',
    schema: { type: 'integer', minimum: 0 },
  },
  WwwAuthenticate: {
    description: 'The scheme to use: `Bearer realm="live vote host"`.',
    required: true,
    schema: { type: 'string' },
  },
  SetHostSession: {
    description: `The host session, 12 hours: over https \`${HOST_SESSION_COOKIE_SECURE}=<expiry>.<epoch>.<HMAC>; Path=/; Secure; HttpOnly; SameSite=Strict\`, over http \`${HOST_SESSION_COOKIE}=…; Path=/api/host; HttpOnly; SameSite=Strict\`. Signed with a key derived from the host token; refused once "sign out everywhere" has moved the epoch on. A DELETE answers it expired.`,
    required: true,
    schema: { type: 'string' },
  },
};

const parameters = {
  IdempotencyKey: {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      'Makes retries safe: the key becomes the vote ID, and the same key with the same vote answers the first result (`Idempotent-Replayed: true`); with another option it is a 422. An sf-string (draft-ietf-httpapi-idempotency-key-header): optionally in double quotes.',
    schema: { type: 'string', pattern: `^(?:${KEY}|"${KEY}")$` },
  },
  HostIdempotencyKey: {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      'Makes a host change once: a retry with the same key answers the first result (`Idempotent-Replayed: true`) and changes nothing again, even when the first answer was lost; the key for another change is a 422. Kept 24 hours. An sf-string, optionally in double quotes.',
    schema: { type: 'string', pattern: `^(?:${KEY}|"${KEY}")$` },
  },
  VoteId: {
    name: 'id',
    in: 'path',
    required: true,
    description: 'A vote ID as `POST /api/vote` answered it.',
    schema: { type: 'string', pattern: IDEMPOTENCY_KEY_PATTERN.source },
  },
  LastEventId: {
    name: 'Last-Event-ID',
    in: 'header',
    required: false,
    description: 'Sent by a reconnecting EventSource. Tallies are state, not events: the stream starts with the current totals whatever it says.',
    schema: { type: 'string' },
  },
};

const responses = {
  Unavailable: errorResponse('A dependency is away: nothing was stored or read. Retrying after Retry-After is safe, even for a vote without Idempotency-Key.', {
    'Retry-After': ref('headers', 'RetryAfter'),
  }),
  RateLimited: errorResponse('Too many requests from this client address; wait Retry-After seconds.', {
    'Retry-After': ref('headers', 'RetryAfter'),
  }),
  InternalError: errorResponse('An unexpected error; the server logged it with the X-Request-Id.'),
  HostUnauthorized: errorResponse('No host token or session, or a wrong one (compared in constant time). Repeated failures from one address turn into 429.', {
    'WWW-Authenticate': ref('headers', 'WwwAuthenticate'),
  }),
  HostForbidden: errorResponse('A cross-site request from a browser page (the same guard as votes).'),
  HostUnavailable: errorResponse('PostgreSQL or Redis is away: nothing changed. Retry after Retry-After.', { 'Retry-After': ref('headers', 'RetryAfter') }),
  HostChangeUnknown: {
    description:
      'The change was sent to PostgreSQL and its outcome could not be learned in time, or it is recorded but Redis (where votes read the round state) did not take it in time: it may be made, or in effect, later. Retry with the same Idempotency-Key (`key`: the one sent, or the one the server chose).',
    headers: { 'X-Request-Id': ref('headers', 'XRequestId') },
    content: json(ref('schemas', 'HostChangeUnknown')),
  },
};

const HOST_SECURITY = [{ hostToken: [] }, { hostSession: [] }];
/** What every host operation may answer besides its own success. */
const hostErrors = {
  401: ref('responses', 'HostUnauthorized'),
  403: ref('responses', 'HostForbidden'),
  429: { ...ref('responses', 'RateLimited'), description: 'Too many host requests without a valid token or session from this address.' },
  503: { ...ref('responses', 'HostUnavailable'), description: 'The session or the failure limit cannot be checked (PostgreSQL or Redis away): refused, never let through.' },
};

/** The paths, their operations and every answer each can give. */
function paths(): Json {
  const api = (o: Json) => ({ ...o, responses: { ...(o.responses as Json), 500: ref('responses', 'InternalError') } });
  return {
    [ROUTES.vote]: {
      post: api({
        operationId: 'castVote',
        tags: ['votes'],
        summary: 'Cast one vote',
        description:
          'A 2xx means the vote is in Redis and will be counted exactly once. A browser page may POST only from the same origin or one of ALLOWED_ORIGINS (Sec-Fetch-Site / Origin); requests without either (curl, k6) are allowed.',
        parameters: [ref('parameters', 'IdempotencyKey')],
        requestBody: { required: true, description: 'At most 1 KB of UTF-8 JSON.', content: json(ref('schemas', 'VoteRequest')) },
        responses: {
          202: {
            description: 'Stored in Redis; `id` is the vote ID to ask `GET /api/vote/{id}` about.',
            headers: {
              'Idempotent-Replayed': ref('headers', 'IdempotentReplayed'),
              'X-Request-Id': ref('headers', 'XRequestId'),
              RateLimit: ref('headers', 'RateLimit'),
              'RateLimit-Policy': ref('headers', 'RateLimitPolicy'),
            },
            content: json(ref('schemas', 'VoteAccepted')),
          },
          400: errorResponse('Malformed JSON, a body that is not an object, an empty body, or an Idempotency-Key that is not 8–128 of A-Z a-z 0-9 _ . : -.'),
          403: errorResponse('A cross-site request from a browser page (forced-vote protection).'),
          413: errorResponse('The body is over 1 KB.'),
          415: errorResponse('Not `application/json`, or a charset other than UTF-8, or a content encoding.'),
          422: {
            description: 'The body is not `{"option":"cats"}` or `{"option":"dogs"}` (with its issues), or the Idempotency-Key was already used for the other option.',
            headers: { 'X-Request-Id': ref('headers', 'XRequestId') },
            content: json({ anyOf: [ref('schemas', 'InvalidVoteBody'), ref('schemas', 'ErrorBody')] }),
          },
          429: {
            ...responses.RateLimited,
            headers: { ...responses.RateLimited.headers, RateLimit: ref('headers', 'RateLimit'), 'RateLimit-Policy': ref('headers', 'RateLimitPolicy') },
          },
          409: errorResponse('Voting is closed (`{"error":"voting is closed"}`): nothing was stored; do not retry. A replay of a key accepted before the close still answers its first 202.'),
          503: { ...ref('responses', 'Unavailable'), description: 'The vote was surely not stored (Redis down, stalled or refusing writes): retrying is safe.' },
          504: {
            description:
              'Outcome unknown: the vote was sent to Redis but its answer did not come in time, so it may still be counted. No Retry-After: retry only with the same Idempotency-Key, or ask `GET /api/vote/{id}`.',
            headers: { 'X-Request-Id': ref('headers', 'XRequestId') },
            content: json(ref('schemas', 'OutcomeUnknown')),
          },
        },
      }),
    },
    [openApiPath(ROUTES.voteStatus)]: {
      get: api({
        operationId: 'getVoteStatus',
        tags: ['votes'],
        summary: 'Whether a vote has been counted yet, and in which tally',
        parameters: [ref('parameters', 'VoteId')],
        responses: {
          200: { description: '`counted` and, once counted, the `round` that counted it and a `seq` that every tally including it reaches (left out while the results of that round are hidden, and for good when the round ended hidden: its seqs would count the votes).', headers: { 'X-Request-Id': ref('headers', 'XRequestId') }, content: json(ref('schemas', 'VoteStatus')) },
          400: errorResponse('Not a vote ID.'),
          503: { ...ref('responses', 'Unavailable'), description: 'PostgreSQL is away.' },
        },
      }),
    },
    [ROUTES.results]: {
      get: api({
        operationId: 'getResults',
        tags: ['results'],
        summary: 'The current round and its totals',
        responses: {
          200: {
            description:
              'The current round (`round`, `voting`, `results`) and its totals; while its results are hidden `cats`, `dogs` and `total` are null, and `seq` and `updatedAt` are those of the last host change (nothing moves with votes). While PostgreSQL is away the last tally this process knows, with `"stale": true` and its age (also in `Age`; while hidden a counted batch neither freshens nor re-ages it).',
            headers: { Age: ref('headers', 'Age'), 'X-Request-Id': ref('headers', 'XRequestId') },
            content: json({ anyOf: [ref('schemas', 'Results'), ref('schemas', 'StaleResults')] }),
          },
          503: { ...ref('responses', 'Unavailable'), description: 'PostgreSQL is away and this process knows no tally yet.' },
        },
      }),
    },
    [ROUTES.stream]: {
      get: {
        operationId: 'streamResults',
        tags: ['results'],
        summary: 'The live totals as Server-Sent Events',
        description: `A \`retry:\` hint and a \`${SSE_EVENT_TALLY}\` event with the current totals at once, then one on every change (at most one per tick), and heartbeat comments. Open with an EventSource.`,
        parameters: [ref('parameters', 'LastEventId')],
        responses: {
          200: {
            description: `An event stream of \`${SSE_EVENT_TALLY}\` events (TallyEvent) that stays open.`,
            content: {
              'text/event-stream': {
                schema: { type: 'string', description: `text/event-stream (WHATWG HTML, server-sent events); each \`${SSE_EVENT_TALLY}\` event is a TallyEvent.` },
                'x-sse-events': { [SSE_EVENT_TALLY]: ref('schemas', 'TallyEvent') },
              },
            },
          },
          429: { ...ref('responses', 'RateLimited'), description: 'Too many new streams, or too many open streams, from this client address.' },
          503: { ...ref('responses', 'Unavailable'), description: 'This server is full or shutting down; another replica may take the stream.' },
        },
      },
    },
    [ROUTES.watchers]: {
      get: api({
        operationId: 'getWatchers',
        tags: ['results'],
        summary: 'How many screens watch the live results, over every server process',
        responses: {
          200: { description: 'Open result streams, summed over the server processes that reported lately.', headers: { 'X-Request-Id': ref('headers', 'XRequestId') }, content: json(ref('schemas', 'Watchers')) },
          503: { ...ref('responses', 'Unavailable'), description: 'Redis is away.' },
        },
      }),
    },
    [ROUTES.hostSession]: {
      post: api({
        operationId: 'openHostSession',
        tags: ['host'],
        summary: 'Trade the host token for a session cookie',
        description: 'With `Authorization: Bearer <HOST_TOKEN>` only (a session cannot open another).',
        security: [{ hostToken: [] }],
        responses: { 204: { description: 'Signed in.', headers: { 'Set-Cookie': ref('headers', 'SetHostSession'), 'X-Request-Id': ref('headers', 'XRequestId') } }, ...hostErrors },
      }),
      delete: api({
        operationId: 'closeHostSession',
        tags: ['host'],
        summary: 'Sign out: the session cookie is cleared',
        description: 'Answered to anyone; audited and counted only for a request that carried a valid token or session.',
        responses: { 204: { description: 'Signed out.', headers: { 'Set-Cookie': ref('headers', 'SetHostSession'), 'X-Request-Id': ref('headers', 'XRequestId') } }, 403: ref('responses', 'HostForbidden') },
      }),
    },
    [ROUTES.hostSessions]: {
      delete: api({
        operationId: 'revokeHostSessions',
        tags: ['host'],
        summary: 'Sign out everywhere: every host session ends, on every server',
        description: 'Every session cookie issued so far is refused from now on (other servers within a second); this request\'s cookie is cleared. The token still signs in.',
        security: HOST_SECURITY,
        responses: {
          204: { description: 'Every session ended.', headers: { 'Set-Cookie': ref('headers', 'SetHostSession'), 'X-Request-Id': ref('headers', 'XRequestId') } },
          ...hostErrors,
          503: ref('responses', 'HostUnavailable'),
        },
      }),
    },
    [ROUTES.hostRounds]: {
      get: api({
        operationId: 'listRounds',
        tags: ['host'],
        summary: 'Every round with its totals, oldest first',
        security: HOST_SECURITY,
        responses: { 200: { description: 'The rounds.', content: json(ref('schemas', 'RoundList')) }, ...hostErrors, 503: ref('responses', 'HostUnavailable') },
      }),
      post: api({
        operationId: 'startRound',
        tags: ['host'],
        summary: 'Start a new round: the current one closes, the new one opens at 0 votes (open, results shown, unless the body says otherwise)',
        description: 'Votes accepted before still count to the round that accepted them. Answered once votes can no longer be accepted by the old state.',
        security: HOST_SECURITY,
        parameters: [ref('parameters', 'HostIdempotencyKey')],
        requestBody: { required: false, description: 'None, or at most 1 KB of UTF-8 JSON: how the round starts.', content: json(ref('schemas', 'RoundStart')) },
        responses: {
          201: { description: 'The new round.', headers: { 'Idempotent-Replayed': ref('headers', 'IdempotentReplayed') }, content: json(ref('schemas', 'RoundCreated')) },
          400: errorResponse('Malformed JSON, or a malformed Idempotency-Key.'),
          413: errorResponse('The body is over 1 KB.'),
          415: errorResponse('A body that is not `application/json`, or a charset other than UTF-8.'),
          422: { description: 'An unknown field or value, or an Idempotency-Key already used for another change.', headers: { 'X-Request-Id': ref('headers', 'XRequestId') }, content: json({ anyOf: [ref('schemas', 'InvalidVoteBody'), ref('schemas', 'ErrorBody')] }) },
          ...hostErrors,
          503: ref('responses', 'HostUnavailable'),
          504: ref('responses', 'HostChangeUnknown'),
        },
      }),
    },
    [ROUTES.hostRound]: {
      get: api({
        operationId: 'getHostRound',
        tags: ['host'],
        summary: 'The current round with its numbers, even while they are hidden',
        security: HOST_SECURITY,
        responses: { 200: { description: 'The current round.', content: json(ref('schemas', 'HostRound')) }, ...hostErrors, 503: ref('responses', 'HostUnavailable') },
      }),
      patch: api({
        operationId: 'changeRound',
        tags: ['host'],
        summary: 'Open or close voting, show or hide results (either or both)',
        description: 'Answered once votes can no longer be accepted by the old state. A change to what already is answers the round as it is, and moves no seq.',
        security: HOST_SECURITY,
        parameters: [ref('parameters', 'HostIdempotencyKey')],
        requestBody: { required: true, description: 'At most 1 KB of UTF-8 JSON.', content: json(ref('schemas', 'RoundPatch')) },
        responses: {
          200: { description: 'The round after the change; every screen gets it at once over SSE.', headers: { 'Idempotent-Replayed': ref('headers', 'IdempotentReplayed') }, content: json(ref('schemas', 'HostRound')) },
          400: errorResponse('Malformed JSON, an empty body, or a malformed Idempotency-Key.'),
          413: errorResponse('The body is over 1 KB.'),
          415: errorResponse('Not `application/json`, or a charset other than UTF-8.'),
          422: { description: 'An unknown field or value, neither field, or an Idempotency-Key already used for another change.', headers: { 'X-Request-Id': ref('headers', 'XRequestId') }, content: json({ anyOf: [ref('schemas', 'InvalidVoteBody'), ref('schemas', 'ErrorBody')] }) },
          ...hostErrors,
          503: ref('responses', 'HostUnavailable'),
          504: ref('responses', 'HostChangeUnknown'),
        },
      }),
    },
    [ROUTES.openapi]: {
      get: {
        operationId: 'getOpenApiDocument',
        tags: ['operations'],
        summary: 'This document',
        responses: { 200: { description: 'The OpenAPI 3.1 document of this API.', content: json({ type: 'object' }) } },
      },
    },
    [ROUTES.healthz]: {
      get: { operationId: 'liveness', tags: ['operations'], summary: 'Liveness', responses: { 200: { description: 'The process is alive.', content: json(ref('schemas', 'Health')) } } },
    },
    [ROUTES.readyz]: {
      get: {
        operationId: 'readiness',
        tags: ['operations'],
        summary: 'Readiness: can take votes (Redis reachable, not shutting down)',
        description: 'PostgreSQL being away degrades results and vote status, not readiness.',
        responses: {
          200: { description: 'Ready.', content: json(ref('schemas', 'Readiness')) },
          503: { description: 'Not ready: Redis is unreachable or the process is shutting down.', content: json(ref('schemas', 'Readiness')) },
        },
      },
    },
  };
}

export interface OpenApiOptions {
  /** `servers[0].url`; none by default, so the document's paths are relative to where it was fetched. */
  serverUrl?: string;
}

/** Builds the document; a fresh object each call. */
export function buildOpenApiDocument(options: OpenApiOptions = {}): Json {
  return {
    openapi: '3.1.1',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'live vote API',
      version: pkg.version,
      summary: 'Cats vs Dogs voting with live results.',
      description:
        `Every JSON error is \`{"error": "..."}\` (ErrorBody; a few carry more fields). Any other path under ${ROUTES.api} answers 404 with an ErrorBody. ` +
        'Pages on the ALLOWED_ORIGINS may use the API by CORS (Content-Type and Idempotency-Key allowed; Retry-After and Idempotent-Replayed exposed).',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    ...(options.serverUrl ? { servers: [{ url: options.serverUrl }] } : {}),
    tags: [
      { name: 'votes', description: 'Casting a vote and asking whether it was counted.' },
      { name: 'results', description: 'The current round and its totals, once or live, and how many watch.' },
      { name: 'host', description: 'The host controls: rounds, closing voting, hiding and revealing results.' },
      { name: 'operations', description: 'Probes and this document. The Prometheus metrics are not on this port but on the ops port (OPS_PORT).' },
    ],
    paths: paths(),
    components: {
      schemas: schemas(),
      responses,
      headers,
      parameters,
      securitySchemes: {
        hostToken: { type: 'http', scheme: 'bearer', description: 'HOST_TOKEN, the host secret of the server configuration.' },
        hostSession: { type: 'apiKey', in: 'cookie', name: HOST_SESSION_COOKIE, description: 'The session cookie POST /api/host/session sets.' },
      },
    },
  };
}
