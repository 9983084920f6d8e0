import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Express } from 'express';
import { ROUTES, type RoundTally } from '@livevote/contract';
import { buildOpenApiDocument, openApiPath } from '@livevote/contract/openapi';
import { createLogger } from '@livevote/service-kit';
import { createTestEnv, startStack, type Stack, type TestEnv } from '@livevote/harness';
import { buildApp, withStreamRoute, type AppDeps } from '../src/app.ts';
import { createServerMetrics } from '../src/metrics.ts';
import type { CastResult, VoteIntake } from '../src/vote-intake.ts';
import type { TallyRead, TallyReader } from '../src/tally-reader.ts';
import type { SseHub } from '../src/sse-hub.ts';
import type { RateLimits, StreamAdmission } from '../src/rate-limits.ts';
import { HostAuth } from '../src/host-auth.ts';
import type { RoundStore } from '../src/round-store.ts';

// The OpenAPI document: a real validator accepts it, every route the server registers is in it,
// and real answers (a running stack, and the real app with failing dependencies) match it.

interface Operation {
  responses: Record<string, Json>;
}
type Json = Record<string, unknown>;
type Doc = { paths: Record<string, Record<string, Operation>>; components: Record<string, Record<string, Json>> };

const doc = buildOpenApiDocument() as unknown as Doc;
const DOC_ID = 'https://livevote.invalid/openapi.json';
const ajv = new Ajv2020({ allErrors: true });
addFormats.default(ajv);
// The document's own fields are not JSON Schema keywords; its schemas are reached by JSON pointer.
for (const k of ['openapi', 'jsonSchemaDialect', 'info', 'tags', 'paths', 'components', 'servers']) ajv.addKeyword(k);
ajv.addSchema({ ...doc, $id: DOC_ID });

const pointer = (parts: string[]) => `#/${parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`;
const refParts = (ref: string) => ref.replace(/^#\//, '').split('/').map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
const at = (parts: string[]): Json => parts.reduce<unknown>((o, k) => (o as Json)[k], doc) as Json;
const deref = (o: Json): { value: Json; parts: string[] | null } => (typeof o.$ref === 'string' ? { value: at(refParts(o.$ref)), parts: refParts(o.$ref) } : { value: o, parts: null });

/**
 * Checks one real answer against the document: its status is documented for the operation, its
 * media type is one the document names, every required header is there (and Retry-After or
 * Idempotent-Replayed only where documented), and a JSON body matches the response schema.
 */
async function expectDocumented(method: 'get' | 'post' | 'patch' | 'delete', route: string, res: Response): Promise<unknown> {
  const path = openApiPath(route);
  const op = doc.paths[path]?.[method];
  expect(op, `${method.toUpperCase()} ${path} is in the document`).toBeDefined();
  const status = String(res.status);
  const raw = op!.responses[status];
  expect(raw, `${method.toUpperCase()} ${path} documents ${status}`).toBeDefined();
  const { value: response, parts } = deref(raw!);
  const base = parts ?? ['paths', path, method, 'responses', status];

  const headers = Object.fromEntries(Object.entries((response.headers ?? {}) as Record<string, Json>).map(([k, h]) => [k.toLowerCase(), deref(h).value]));
  for (const [name, h] of Object.entries(headers)) if (h.required) expect(res.headers.get(name), `${status} carries ${name}`).not.toBeNull();
  for (const name of ['retry-after', 'idempotent-replayed']) if (!(name in headers)) expect(res.headers.get(name), `${status} without ${name}`).toBeNull();
  const retryAfter = res.headers.get('retry-after');
  if (retryAfter !== null) expect(retryAfter).toMatch(/^\d+$/);

  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const content = (response.content ?? {}) as Record<string, Json>;
  if (res.status === 204) {
    expect(Object.keys(content), '204 has no body').toEqual([]);
    return null;
  }
  expect(Object.keys(content), `${status} media type`).toContain(type);
  if (type !== 'application/json') return res.text();
  const body: unknown = await res.json();
  const check = ajv.getSchema(DOC_ID + pointer([...base, 'content', 'application/json', 'schema']))!;
  expect(check(body), `${method.toUpperCase()} ${path} ${status} body ${JSON.stringify(body)}: ${ajv.errorsText(check.errors)}`).toBe(true);
  return body;
}

/** Every "METHOD path" an Express app routes, nested routers included. */
function expressRoutes(app: Express): string[] {
  interface Layer {
    route?: { path: string; methods: Record<string, boolean> };
    handle?: { stack?: Layer[] };
  }
  const out: string[] = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) for (const m of Object.keys(layer.route.methods)) out.push(`${m.toUpperCase()} ${layer.route.path}`);
      else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return out;
}

/** The real app and stream route with dependencies that answer as told. */
const HOST_TOKEN = 'openapi-test-host-token';
const fail = async (): Promise<never> => {
  throw new Error('away');
};

function appWith(over: {
  cast?: () => Promise<CastResult>;
  read?: () => Promise<TallyRead>;
  countedIn?: () => Promise<{ seq: number; round: number; shown: boolean } | null>;
  ready?: boolean;
  streams?: StreamAdmission;
  watchers?: () => Promise<number>;
}) {
  const intake = { cast: over.cast ?? (async () => ({ kind: 'accepted', id: 'x'.repeat(8) })) } as unknown as VoteIntake;
  const tallies = { read: over.read, countedIn: over.countedIn } as unknown as TallyReader;
  const hub = { admit: () => true, connect: async () => {} } as unknown as SseHub;
  const rateLimits: RateLimits = { votes: (_req, _res, next) => next(), streams: async () => over.streams ?? { allowed: true }, hostFailures: async () => ({ allowed: true }) };
  const metrics = createServerMetrics();
  const logger = createLogger('openapi-test', 'silent');
  const rounds = { current: fail, list: fail, change: fail, state: fail } as unknown as RoundStore;
  const deps: AppDeps = {
    intake,
    tallies,
    hub,
    metrics,
    logger,
    trustProxy: () => false,
    allowedOrigins: [],
    rateLimits,
    ready: async () => over.ready ?? true,
    host: { auth: new HostAuth({ token: HOST_TOKEN, metrics, rateLimits, epoch: { current: async () => 0 } }), epoch: { revoke: fail }, rounds, stateCopy: { write: fail, restore: fail }, announce: async () => {}, metrics, logger },
    watchers: { total: over.watchers ?? (async () => 0) },
  };
  const app = buildApp(deps);
  return { app, listener: withStreamRoute(app, deps) };
}

async function serve(listener: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 to @readme/openapi-parser', async () => {
    const result = await validate(structuredClone(doc) as never);
    expect(result, JSON.stringify(result)).toMatchObject({ valid: true, specification: 'OpenAPI' });
    expect((doc as unknown as { openapi: string }).openapi).toMatch(/^3\.1\./);
    // The validator does reject: the same document with a response missing its description.
    const broken = structuredClone(doc);
    delete broken.paths[ROUTES.results]!.get!.responses['200']!.description;
    expect((await validate(broken as never)).valid).toBe(false);
  });

  it('has every route the server registers, and no other', () => {
    const { app } = appWith({});
    const registered = new Set([...expressRoutes(app), `GET ${ROUTES.stream}`].map((r) => r.replace(/ (.*)$/, (_m, p: string) => ` ${openApiPath(p)}`)));
    const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
    expect([...registered].sort()).toEqual([...documented].sort());
  });

  it('has a schema for the stream event data and the error bodies', () => {
    const s = doc.components.schemas!;
    expect(Object.keys(s)).toEqual(expect.arrayContaining(['Results', 'TallyEvent', 'ErrorBody', 'OutcomeUnknown', 'InvalidVoteBody']));
    const media = (at(['paths', ROUTES.stream, 'get', 'responses', '200', 'content']) as Record<string, Json>)['text/event-stream'];
    expect(media?.['x-sse-events']).toEqual({ tally: { $ref: '#/components/schemas/TallyEvent' } });
  });
});

describe('answers of a running stack match the document', () => {
  let env: TestEnv;
  let stack: Stack;
  const votesPerMin = 30;
  beforeAll(async () => {
    env = await createTestEnv('openapi');
    stack = await startStack({ ...env, consumers: 1, serverEnv: { RATE_LIMIT: 'on', RATE_LIMIT_VOTES_PER_MIN: String(votesPerMin) } });
  });
  afterAll(async () => {
    await stack?.stop();
    await env?.cleanup();
  });
  const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => fetch(`${stack.url}${ROUTES.vote}`, { method: 'POST', headers, body });
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${stack.url}${path}`, { headers });

  it('serves the document itself at /api/openapi.json', async () => {
    const res = await get(ROUTES.openapi);
    expect(await expectDocumented('get', ROUTES.openapi, res)).toEqual(buildOpenApiDocument());
  });

  it('POST /api/vote: 202, a replay, and each 4xx', async () => {
    const fresh = (await expectDocumented('post', ROUTES.vote, await post('{"option":"cats"}'))) as { id: string };
    const key = `openapi-${Date.now()}`;
    await expectDocumented('post', ROUTES.vote, await post('{"option":"dogs"}', { 'content-type': 'application/json', 'idempotency-key': key }));
    const replay = await post('{"option":"dogs"}', { 'content-type': 'application/json', 'idempotency-key': `"${key}"` });
    expect(replay.status).toBe(202);
    await expectDocumented('post', ROUTES.vote, replay);
    // The key for the other option: 422 while its vote is in flight; once counted (the record
    // dropped) a 202 that changes nothing. Documented either way.
    const misuse = await post('{"option":"cats"}', { 'content-type': 'application/json', 'idempotency-key': key });
    expect([202, 422]).toContain(misuse.status);
    await expectDocumented('post', ROUTES.vote, misuse);
    const cases: [Response, number][] = [
      [await post('{"option":'), 400],
      [await post(''), 400],
      [await post('{"option":"cats"}', { 'content-type': 'application/json', 'idempotency-key': 'short' }), 400],
      [await post('{"option":"cats"}', { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' }), 403],
      [await post(JSON.stringify({ option: 'cats', pad: 'x'.repeat(2000) })), 413],
      [await post('{"option":"cats"}', { 'content-type': 'text/plain' }), 415],
      [await post('{"option":"hamsters"}'), 422],
    ];
    for (const [res, status] of cases) {
      expect(res.status).toBe(status);
      await expectDocumented('post', ROUTES.vote, res);
    }
    const status = await expectDocumented('get', ROUTES.voteStatus, await get(`${ROUTES.vote}/${fresh.id}`));
    expect(status).toMatchObject({ id: fresh.id });
    await expectDocumented('get', ROUTES.voteStatus, await get(`${ROUTES.vote}/nope`));
  });

  const host = (method: string, path: string, body?: string) =>
    fetch(`${stack.url}${path}`, { method, headers: { authorization: `Bearer ${stack.hostToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body }) });

  it('the host routes: every success, 401 with WWW-Authenticate, 403, and bad bodies', async () => {
    const session = await host('POST', ROUTES.hostSession);
    expect(session.status).toBe(204);
    await expectDocumented('post', ROUTES.hostSession, session);
    await expectDocumented('delete', ROUTES.hostSession, await fetch(`${stack.url}${ROUTES.hostSession}`, { method: 'DELETE' }));
    const revoked = await host('DELETE', ROUTES.hostSessions);
    expect(revoked.status).toBe(204);
    await expectDocumented('delete', ROUTES.hostSessions, revoked);
    const created = await host('POST', ROUTES.hostRounds);
    expect(created.status).toBe(201);
    await expectDocumented('post', ROUTES.hostRounds, created);
    await expectDocumented('get', ROUTES.hostRounds, await host('GET', ROUTES.hostRounds));
    await expectDocumented('get', ROUTES.hostRound, await host('GET', ROUTES.hostRound));
    const hidden = await host('PATCH', ROUTES.hostRound, '{"results":"hidden"}');
    expect(await expectDocumented('patch', ROUTES.hostRound, hidden)).toMatchObject({ results: 'hidden' });
    // A hidden round's public results (numbers null) match the document too.
    expect(await expectDocumented('get', ROUTES.results, await get(ROUTES.results))).toMatchObject({ results: 'hidden', cats: null });
    await expectDocumented('patch', ROUTES.hostRound, await host('PATCH', ROUTES.hostRound, '{"results":"shown","voting":"closed"}'));
    const closed = await post('{"option":"cats"}');
    expect(closed.status).toBe(409);
    await expectDocumented('post', ROUTES.vote, closed);
    await host('PATCH', ROUTES.hostRound, '{"voting":"open"}');
    const cases: [Response, string, 'get' | 'post' | 'patch' | 'delete', number][] = [
      [await fetch(`${stack.url}${ROUTES.hostRound}`), ROUTES.hostRound, 'get', 401],
      [await fetch(`${stack.url}${ROUTES.hostSessions}`, { method: 'DELETE' }), ROUTES.hostSessions, 'delete', 401],
      [await fetch(`${stack.url}${ROUTES.hostRounds}`, { method: 'POST', headers: { authorization: 'Bearer wrong-token-wrong' } }), ROUTES.hostRounds, 'post', 401],
      [await fetch(`${stack.url}${ROUTES.hostRounds}`, { method: 'POST', headers: { authorization: `Bearer ${stack.hostToken}`, 'sec-fetch-site': 'cross-site' } }), ROUTES.hostRounds, 'post', 403],
      [await host('PATCH', ROUTES.hostRound, '{"voting":'), ROUTES.hostRound, 'patch', 400],
      [await host('PATCH', ROUTES.hostRound, '{"voting":"maybe"}'), ROUTES.hostRound, 'patch', 422],
    ];
    for (const [res, path, method, status] of cases) {
      expect(res.status).toBe(status);
      await expectDocumented(method, path, res);
    }
  });

  it('GET /api/results, /api/watchers and the health routes', async () => {
    await expectDocumented('get', ROUTES.results, await get(ROUTES.results));
    await expectDocumented('get', ROUTES.watchers, await get(ROUTES.watchers));
    await expectDocumented('get', ROUTES.healthz, await get(ROUTES.healthz));
    await expectDocumented('get', ROUTES.readyz, await get(ROUTES.readyz));
  });

  it('GET /api/stream: an event stream whose tally events match TallyEvent and Results', async () => {
    const res = await get(ROUTES.stream);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const op = doc.paths[ROUTES.stream]!.get!.responses['200']!;
    expect(Object.keys(op.content as Json)).toEqual(['text/event-stream']);
    const reader = res.body!.getReader();
    let text = '';
    while (!/\n\n[^]*event: tally[^]*?\n\n/.test(`\n\n${text}`)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    const block = `\n\n${text}`.split('\n\n').find((b) => b.includes('event: tally'))!;
    const event = Object.fromEntries(block.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
    const tallyEvent = ajv.getSchema(`${DOC_ID}#/components/schemas/TallyEvent`)!;
    expect(tallyEvent(event), ajv.errorsText(tallyEvent.errors)).toBe(true);
    const results = ajv.getSchema(`${DOC_ID}#/components/schemas/Results`)!;
    const data = JSON.parse(event.data!) as { seq: number };
    expect(results(data), ajv.errorsText(results.errors)).toBe(true);
    expect(String(data.seq)).toBe(event.id);
  });

  // Last: it uses up this address's vote budget.
  it('POST /api/vote: 429 with Retry-After once the rate limit is spent', async () => {
    let res: Response | undefined;
    for (let i = 0; i <= votesPerMin; i++) {
      res = await post('{"option":"cats"}');
      if (res.status === 429) break;
      await res.arrayBuffer();
    }
    expect(res!.status).toBe(429);
    await expectDocumented('post', ROUTES.vote, res!);
  });
});

describe('answers with a dependency away match the document (the real app, stubbed dependencies)', () => {
  const tally: RoundTally = { round: 1, voting: 'open', results: 'shown', cats: 1, dogs: 2, total: 3, seq: 4, updatedAt: new Date().toISOString() };
  let servers: { close: () => Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
  });
  const start = async (over: Parameters<typeof appWith>[0]) => {
    const s = await serve(appWith(over).listener);
    servers.push(s);
    return s.url;
  };
  const vote = (url: string) => fetch(`${url}${ROUTES.vote}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"option":"cats"}' });

  it('503 + Retry-After when the vote was not stored; 504 without it when the outcome is unknown', async () => {
    const notStored = await start({ cast: async () => ({ kind: 'not-stored', id: 'vote-0001', reason: 'disconnected' }) });
    const r503 = await vote(notStored);
    expect(r503.status).toBe(503);
    await expectDocumented('post', ROUTES.vote, r503);
    const unknown = await start({ cast: async () => ({ kind: 'unknown', id: 'vote-0002' }) });
    const r504 = await vote(unknown);
    expect(r504.status).toBe(504);
    expect(await expectDocumented('post', ROUTES.vote, r504)).toEqual({ error: 'outcome unknown', id: 'vote-0002' });
  });

  it('results: stale with Age, or 503; vote status 503; readyz 503', async () => {
    const stale = await start({ read: async () => ({ value: tally, stale: true, ageSeconds: 12 }) });
    const res = await fetch(`${stale}${ROUTES.results}`);
    expect(res.headers.get('age')).toBe('12');
    expect(await expectDocumented('get', ROUTES.results, res)).toMatchObject({ stale: true, ageSeconds: 12 });
    const away = await start({ read: fail, countedIn: fail, ready: false });
    const r1 = await fetch(`${away}${ROUTES.results}`);
    expect(r1.status).toBe(503);
    await expectDocumented('get', ROUTES.results, r1);
    const r2 = await fetch(`${away}${ROUTES.vote}/vote-0003`);
    expect(r2.status).toBe(503);
    await expectDocumented('get', ROUTES.voteStatus, r2);
    const r3 = await fetch(`${away}${ROUTES.readyz}`);
    expect(r3.status).toBe(503);
    await expectDocumented('get', ROUTES.readyz, r3);
  });

  it('watchers 503 while Redis is away; host routes 503 + Retry-After while PostgreSQL is (nothing changed)', async () => {
    const away = await start({ watchers: fail });
    const w = await fetch(`${away}${ROUTES.watchers}`);
    expect(w.status).toBe(503);
    await expectDocumented('get', ROUTES.watchers, w);
    const auth = { authorization: `Bearer ${HOST_TOKEN}` };
    for (const [method, path] of [['get', ROUTES.hostRound], ['post', ROUTES.hostRounds], ['get', ROUTES.hostRounds]] as const) {
      const res = await fetch(`${away}${path}`, { method: method.toUpperCase(), headers: auth });
      expect(res.status, `${method} ${path}`).toBe(503);
      await expectDocumented(method, path, res);
    }
    const patched = await fetch(`${away}${ROUTES.hostRound}`, { method: 'PATCH', headers: { ...auth, 'content-type': 'application/json' }, body: '{"voting":"closed"}' });
    expect(patched.status).toBe(503);
    await expectDocumented('patch', ROUTES.hostRound, patched);
  });

  it('the stream route: 429 + Retry-After when the address opened too many', async () => {
    const limited = await start({ streams: { allowed: false, retryAfterSeconds: 7 } });
    const res = await fetch(`${limited}${ROUTES.stream}`);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    await expectDocumented('get', ROUTES.stream, res);
  });
});
