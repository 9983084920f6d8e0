import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Redis } from 'ioredis';
import { HostRound, Results, RoundList, redisKeys } from '@livevote/contract';
import { castMany, castVote, createTestEnv, publicResults, startStack, streamFrames, type Stack, type TestEnv } from '@livevote/harness';

let env: TestEnv;
let stack: Stack;

beforeAll(async () => {
  env = await createTestEnv('host_rounds');
  // Info level: the audit lines are read back from the server's output.
  stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' }, serverEnv: { LOG_LEVEL: 'info' } });
});
afterAll(async () => {
  await stack?.stop();
  await env?.cleanup();
});

const bearer = () => ({ authorization: `Bearer ${stack.hostToken}` });
const host = (path: string, init: RequestInit = {}) => fetch(`${stack.url}${path}`, { ...init, headers: { ...bearer(), ...(init.headers as Record<string, string>) } });
const patch = (body: unknown) =>
  host('/api/host/round', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const current = async () => HostRound.parse(await (await host('/api/host/round')).json());
const newRound = async () => {
  const res = await host('/api/host/rounds', { method: 'POST' });
  expect(res.status).toBe(201);
  return ((await res.json()) as { round: number }).round;
};
const rounds = async () => RoundList.parse(await (await host('/api/host/rounds')).json()).rounds;

describe('host routes', () => {
  it('refuse a missing or wrong token with 401 and never show the round', async () => {
    const missing = await fetch(`${stack.url}/api/host/round`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await missing.json()).toEqual({ error: expect.stringContaining('Bearer') });
    for (const authorization of [`Bearer ${stack.hostToken}x`, `Bearer ${stack.hostToken.slice(1)}`, 'Basic abc', `bearer`]) {
      const res = await fetch(`${stack.url}/api/host/round`, { headers: { authorization } });
      expect(res.status, authorization).toBe(401);
    }
    expect((await fetch(`${stack.url}/api/host/rounds`, { method: 'POST' })).status).toBe(401);
  });

  it('refuse a cross-site request with 403, even with the token', async () => {
    const res = await host('/api/host/rounds', { method: 'POST', headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' } });
    expect(res.status).toBe(403);
  });

  it('trade the token for an HttpOnly, SameSite=Strict session cookie that works alone, and clear it', async () => {
    const res = await host('/api/host/session', { method: 'POST' });
    expect(res.status).toBe(204);
    const setCookie = res.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^lv_host=[^;]+;/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Path=\/api\/host/);
    expect(setCookie).not.toContain(stack.hostToken);
    const cookie = setCookie.split(';')[0] as string;
    const withCookie = await fetch(`${stack.url}/api/host/round`, { headers: { cookie } });
    expect(withCookie.status).toBe(200);
    // A forged or altered cookie is refused.
    const forged = cookie.replace(/=(\d+)\./, (_m, t: string) => `=${Number(t) + 1}.`);
    expect((await fetch(`${stack.url}/api/host/round`, { headers: { cookie: forged } })).status).toBe(401);
    // The session cannot be opened with a cookie, only with the token.
    expect((await fetch(`${stack.url}/api/host/session`, { method: 'POST', headers: { cookie } })).status).toBe(401);
    const out = await fetch(`${stack.url}/api/host/session`, { method: 'DELETE', headers: { cookie } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/lv_host=;.*Expires=Thu, 01 Jan 1970/i);
  });

  it('start a round at 0 votes, open and shown, and close the previous one', async () => {
    expect((await castVote(stack.url, 'cats')).status).toBe(202);
    const before = await current();
    const n = await newRound();
    expect(n).toBe(before.round + 1);
    const now = await current();
    expect(now).toMatchObject({ round: n, voting: 'open', results: 'shown', cats: 0, dogs: 0, total: 0, closedAt: null });
    expect(now.seq).toBeGreaterThan(before.seq);
    const all = await rounds();
    expect(all.map((r) => r.round)).toEqual([...Array(n).keys()].map((i) => i + 1));
    expect(all.at(-2)?.closedAt).not.toBeNull();
    expect(all.at(-1)).toMatchObject({ round: n, total: 0, closedAt: null });
  });

  it('close voting: 409 for new votes, a replay of an accepted key is still its first answer', async () => {
    await newRound();
    const key = `before-close-${Date.now()}`;
    expect((await castVote(stack.url, 'dogs', key)).status).toBe(202);
    const closed = await patch({ voting: 'closed' });
    expect(closed.status).toBe(200);
    expect(HostRound.parse(await closed.json())).toMatchObject({ voting: 'closed', closedAt: expect.any(String) });
    const refused = await castVote(stack.url, 'cats');
    expect(refused.status).toBe(409);
    const body = await fetch(`${stack.url}/api/vote`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"option":"cats"}' });
    expect(body.status).toBe(409);
    expect(await body.json()).toEqual({ error: 'voting is closed' });
    expect((await castVote(stack.url, 'dogs', key)).status).toBe(202);
    expect((await publicResults(stack.url)).voting).toBe('closed');
    const reopened = await patch({ voting: 'open' });
    expect(HostRound.parse(await reopened.json())).toMatchObject({ voting: 'open', closedAt: null });
    expect((await castVote(stack.url, 'cats')).status).toBe(202);
  });

  it('hide results: public answers carry null numbers while the host still sees them; reveal brings them back', async () => {
    const round = await newRound();
    await castMany(stack.url, 5, 5, () => 'cats');
    const hidden = await patch({ results: 'hidden' });
    expect(hidden.status).toBe(200);
    await castMany(stack.url, 3, 3, () => 'dogs');
    await vi.waitFor(async () => expect((await current()).total).toBe(8), { timeout: 10_000, interval: 50 });
    const pub = Results.parse(await publicResults(stack.url));
    expect(pub).toMatchObject({ round, results: 'hidden', cats: null, dogs: null, total: null });
    const raw = await (await fetch(`${stack.url}/api/results`)).text();
    expect(raw).not.toMatch(/"(cats|dogs|total)":\d/);
    expect(await current()).toMatchObject({ round, results: 'hidden', cats: 5, dogs: 3, total: 8 });
    const shown = await patch({ results: 'shown' });
    expect(HostRound.parse(await shown.json())).toMatchObject({ results: 'shown', total: 8 });
    await vi.waitFor(async () => expect(await publicResults(stack.url)).toMatchObject({ round, results: 'shown', cats: 5, dogs: 3, total: 8 }), { timeout: 10_000 });
  });

  it('every SSE frame is redacted while results are hidden', async () => {
    await newRound();
    await patch({ results: 'hidden' });
    const stream = await streamFrames(stack.url);
    await castMany(stack.url, 20, 10, () => 'dogs');
    await vi.waitFor(async () => expect((await current()).total).toBe(20), { timeout: 10_000 });
    await patch({ results: 'shown' });
    await vi.waitFor(() => expect(stream.frames.some((f) => f.data.total === 20)).toBe(true), { timeout: 10_000 });
    await stream.stop();
    const parsed = stream.frames.map((f) => f.data);
    for (const f of parsed.filter((p) => p.results === 'hidden')) expect([f.cats, f.dogs, f.total]).toEqual([null, null, null]);
    expect(parsed.filter((p) => p.results === 'hidden').length).toBeGreaterThan(0);
  });

  it('start a round hidden and/or closed when asked, so the presenter never flashes a number', async () => {
    const before = await current();
    const res = await host('/api/host/rounds', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ results: 'hidden', voting: 'closed' }) });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ round: before.round + 1 });
    expect(await current()).toMatchObject({ round: before.round + 1, voting: 'closed', results: 'hidden', total: 0, closedAt: expect.any(String) });
    expect(await publicResults(stack.url)).toMatchObject({ round: before.round + 1, results: 'hidden', cats: null });
    expect((await castVote(stack.url, 'cats')).status).toBe(409);
    const hiddenOnly = await host('/api/host/rounds', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"results":"hidden"}' });
    expect(hiddenOnly.status).toBe(201);
    expect(await current()).toMatchObject({ voting: 'open', results: 'hidden', closedAt: null });
    expect((await castVote(stack.url, 'cats')).status).toBe(202);
    await patch({ results: 'shown' });
  });

  it('answer bad POST bodies and keys with 400, 415 and 422 and start no round', async () => {
    const before = await current();
    const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => host('/api/host/rounds', { method: 'POST', headers, body });
    expect((await post('{"results":', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post('{"results":')).status).toBe(400);
    for (const body of ['{"results":"visible"}', '{"round":9}', '[]']) expect((await post(body)).status, body).toBe(422);
    expect((await host('/api/host/rounds', { method: 'POST', headers: { 'idempotency-key': 'short' } })).status).toBe(400);
    expect((await patch({ voting: 'open' }).then(() => host('/api/host/round', { method: 'PATCH', headers: { 'content-type': 'application/json', 'idempotency-key': 'bad key!' }, body: '{"voting":"open"}' }))).status).toBe(400);
    expect((await current()).round).toBe(before.round);
  });

  it('make one change per Idempotency-Key: a retry answers the first result, the key for another change is a 422', async () => {
    const before = await current();
    const key = `host-once-${Date.now()}`;
    const first = await host('/api/host/rounds', { method: 'POST', headers: { 'idempotency-key': key } });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await host('/api/host/rounds', { method: 'POST', headers: { 'idempotency-key': `"${key}"` } });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual({ round: before.round + 1 });
    expect((await current()).round).toBe(before.round + 1);
    const misuse = await host('/api/host/round', { method: 'PATCH', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: '{"voting":"closed"}' });
    expect(misuse.status).toBe(422);
    expect(await misuse.json()).toEqual({ error: expect.stringMatching(/Idempotency-Key/) });
    expect((await current()).voting).toBe('open');
  });

  it('answer a change that changes nothing with the round as it is: no seq moved, no audit line', async () => {
    await patch({ results: 'hidden' });
    const before = await current();
    const audits = () => stack.server.output().split('\n').filter((l) => l.includes('"audit":"host"')).length;
    const lines = audits();
    const res = await patch({ results: 'hidden' });
    expect(res.status).toBe(200);
    expect(HostRound.parse(await res.json())).toMatchObject({ round: before.round, results: 'hidden', seq: before.seq });
    expect((await current()).seq).toBe(before.seq);
    expect(audits()).toBe(lines);
    // A real change right after is audited: the count above was not blind.
    await patch({ results: 'shown' });
    await vi.waitFor(() => expect(audits()).toBe(lines + 1), { timeout: 5000 });
  });

  it('while results are hidden nothing public moves with votes (seq, updatedAt, SSE ids, frames, vote status seq); host changes still do', async () => {
    await newRound();
    await patch({ results: 'hidden' });
    const before = await publicResults(stack.url);
    const stream = await streamFrames(stack.url);
    const { frames } = stream;
    try {
      await vi.waitFor(() => expect(frames).toHaveLength(1), { timeout: 5000 });
      const cast = await castMany(stack.url, 7, 1, () => 'cats');
      expect(cast.every((c) => c.status === 202)).toBe(true);
      // Counted in three or more batches would be the same: each batch is a chance to leak.
      await vi.waitFor(async () => expect((await current()).total).toBe(7), { timeout: 10_000, interval: 50 });
      const during = await publicResults(stack.url);
      expect(during).toEqual(before);
      const status = (await (await fetch(`${stack.url}/api/vote/${cast[0]!.id}`)).json()) as Record<string, unknown>;
      expect(status).toEqual({ id: cast[0]!.id, counted: true, round: before.round });
      // The barrier: a host change reaches the stream as the very next frame.
      await patch({ voting: 'closed' });
      await vi.waitFor(() => expect(frames.some((f) => f.data.voting === 'closed')).toBe(true), { timeout: 5000 });
      expect(frames).toHaveLength(2);
      expect(frames[1]!.id).toBeGreaterThan(frames[0]!.id);
      expect(frames[1]!.data).toMatchObject({ results: 'hidden', cats: null, seq: frames[1]!.id });
      // Revealed: the numbers, with a seq above every hidden one.
      await patch({ results: 'shown', voting: 'open' });
      await vi.waitFor(() => expect(frames.at(-1)!.data).toMatchObject({ results: 'shown', cats: 7 }), { timeout: 5000 });
      expect(frames.at(-1)!.id).toBeGreaterThan(frames[1]!.id);
      const shown = (await (await fetch(`${stack.url}/api/vote/${cast[0]!.id}`)).json()) as Record<string, unknown>;
      expect(shown).toEqual({ id: cast[0]!.id, counted: true, seq: expect.any(Number), round: before.round });
    } finally {
      await stream.stop();
    }
  });

  it('answer bad PATCH bodies with 400, 415 and 422 and change nothing', async () => {
    const before = await current();
    expect((await patch('')).status).toBe(400);
    expect((await patch('{"voting":')).status).toBe(400);
    expect((await host('/api/host/round', { method: 'PATCH', headers: { 'content-type': 'text/plain' }, body: '{"voting":"closed"}' })).status).toBe(415);
    for (const body of [{}, { voting: 'shut' }, { results: 'visible' }, { voting: 'closed', extra: 1 }, []]) {
      const res = await patch(body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(((await res.json()) as { error: string }).error).toMatch(/voting|results/);
    }
    const after = await current();
    expect(after).toMatchObject({ round: before.round, voting: before.voting, results: before.results });
  });

  it('tell which round counted a vote', async () => {
    const round = await newRound();
    const key = `which-round-${Date.now()}`;
    expect((await castVote(stack.url, 'cats', key)).status).toBe(202);
    const status = await vi.waitFor(async () => {
      const s = (await (await fetch(`${stack.url}/api/vote/${key}`)).json()) as { counted: boolean; round?: number };
      expect(s.counted).toBe(true);
      return s;
    }, { timeout: 10_000 });
    expect(status.round).toBe(round);
  });

  it('count every accepted vote exactly once, in the round that accepted it, through a flood with rounds started mid-way', async () => {
    const first = await newRound();
    const n = 3000;
    const accepted = new Map<number, number>();
    let starts = 0;
    // Rounds start while votes are in flight; each vote's round is what GET /api/vote/:id reports.
    const flood = castMany(stack.url, n, 48, (i) => (i % 3 === 0 ? 'dogs' : 'cats'));
    const changes = (async () => {
      for (let i = 0; i < 3; i++) {
        await vi.waitFor(async () => expect((await current()).total).toBeGreaterThan(0), { timeout: 10_000, interval: 10 });
        await newRound();
        starts++;
      }
    })();
    const [outcomes] = await Promise.all([flood, changes]);
    const ok = outcomes.filter((o) => o.status === 202);
    expect(outcomes.every((o) => o.status === 202)).toBe(true);
    expect(starts).toBe(3);
    const expectedTotal = ok.length;
    await vi.waitFor(async () => {
      const all = (await rounds()).filter((r) => r.round >= first);
      expect(all.reduce((sum, r) => sum + r.total, 0)).toBe(expectedTotal);
    }, { timeout: 20_000, interval: 100 });
    const all = (await rounds()).filter((r) => r.round >= first);
    expect(all.length).toBe(4);
    // More than one round took votes: the changes really happened mid-flood.
    expect(all.filter((r) => r.total > 0).length).toBeGreaterThan(1);
    // Each vote's status names one round, and the per-round counts match those names.
    const sample = ok.slice(0, 300);
    for (const o of sample) {
      const s = (await (await fetch(`${stack.url}/api/vote/${o.id}`)).json()) as { round: number };
      accepted.set(s.round, (accepted.get(s.round) ?? 0) + 1);
    }
    for (const r of accepted.keys()) expect(r).toBeGreaterThanOrEqual(first);
  });

  it('restore the round state in Redis from PostgreSQL when Redis lost it; votes meanwhile get 503, never a wrong round', async () => {
    const round = await newRound();
    await patch({ voting: 'closed' });
    const redis = new Redis(env.redisUrl);
    try {
      await redis.del(redisKeys(env.redisPrefix).round);
      // The first vote finds no state: not stored (503), and the server restores the state.
      const first = await castVote(stack.url, 'cats');
      expect([503, 409]).toContain(first.status);
      await vi.waitFor(async () => expect(await redis.hget(redisKeys(env.redisPrefix).round, 'round')).toBe(String(round)), { timeout: 10_000 });
      expect(await redis.hget(redisKeys(env.redisPrefix).round, 'voting')).toBe('closed');
      expect((await castVote(stack.url, 'cats')).status).toBe(409);
    } finally {
      redis.disconnect();
      await patch({ voting: 'open' });
    }
  });
});
