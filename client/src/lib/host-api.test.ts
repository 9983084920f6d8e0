import { describe, expect, it } from 'vitest';
import { HostRequestFailed, NotSignedIn, changeRound, getRound, signIn, startRound, tokenFromHash } from './host-api.ts';

type Seen = { url: string; init: RequestInit };
const fake = (status: number, body: unknown, headers: Record<string, string> = {}) => {
  const seen: Seen[] = [];
  const f = (async (url: string, init: RequestInit) => {
    seen.push({ url, init });
    return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
  }) as unknown as typeof fetch;
  return { f, seen };
};

describe('host-api', () => {
  it('signs in with the token as Bearer, once, same-origin', async () => {
    const { f, seen } = fake(204, null);
    await signIn('a-token-of-sixteen+', f);
    expect(seen[0]!.url).toBe('/api/host/session');
    expect(seen[0]!.init).toMatchObject({ method: 'POST', credentials: 'same-origin', headers: { authorization: 'Bearer a-token-of-sixteen+' } });
  });

  it('tells "not signed in" (401) from other failures, with the API\'s message and Retry-After', async () => {
    await expect(getRound(fake(401, { error: 'host token required' }).f)).rejects.toBeInstanceOf(NotSignedIn);
    const err = await getRound(fake(429, { error: 'too many failed host sign-ins' }, { 'retry-after': '42' }).f).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostRequestFailed);
    expect(err).toMatchObject({ status: 429, message: 'too many failed host sign-ins', retryAfterSeconds: 42 });
  });

  it('sends a change as JSON PATCH, with an Idempotency-Key', async () => {
    const { f, seen } = fake(200, { round: 2, voting: 'closed' });
    await changeRound({ voting: 'closed' }, { fetch: f });
    expect(seen[0]!.init).toMatchObject({ method: 'PATCH', body: '{"voting":"closed"}', headers: { 'content-type': 'application/json', 'idempotency-key': expect.stringMatching(/^[0-9a-f-]{36}$/) } });
  });

  it('starts a round with no body, or with the state asked for', async () => {
    const { f, seen } = fake(201, { round: 3 });
    expect(await startRound({}, { fetch: f })).toBe(3);
    expect(seen[0]!.init.body).toBeUndefined();
    await startRound({ results: 'hidden' }, { fetch: f });
    expect(seen[1]!.init).toMatchObject({ method: 'POST', body: '{"results":"hidden"}', headers: { 'content-type': 'application/json' } });
  });

  it('retries with the same key after a 503, a 504 or a lost answer, and never after a 4xx', async () => {
    const answers: (() => Response)[] = [
      () => new Response('{"error":"nothing changed"}', { status: 503, headers: { 'retry-after': '1' } }),
      () => {
        throw new TypeError('network error');
      },
      () => new Response('{"error":"outcome unknown","key":"k"}', { status: 504 }),
      () => new Response('{"round":4}', { status: 201 }),
    ];
    const keys: string[] = [];
    const waits: number[] = [];
    const f = (async (_url: string, init: RequestInit) => {
      keys.push((init.headers as Record<string, string>)['idempotency-key']!);
      return answers.shift()!();
    }) as unknown as typeof fetch;
    expect(await startRound({}, { fetch: f, sleep: async (ms) => void waits.push(ms) })).toBe(4);
    expect(keys).toHaveLength(4);
    expect(new Set(keys).size).toBe(1);
    expect(waits[0]).toBe(1000);
    // Two actions, two keys.
    const second = fake(200, { round: 4 });
    await changeRound({ voting: 'open' }, { fetch: second.f });
    expect((second.seen[0]!.init.headers as Record<string, string>)['idempotency-key']).not.toBe(keys[0]);
    const refused = fake(422, { error: 'this Idempotency-Key was already used for a different host change' });
    await expect(changeRound({ voting: 'open' }, { fetch: refused.f, sleep: async () => {} })).rejects.toMatchObject({ status: 422 });
    expect(refused.seen).toHaveLength(1);
  });

  it('gives up after its retry window and says why', async () => {
    const down = fake(503, { error: 'nothing changed: the database or Redis is unavailable' });
    await expect(changeRound({ voting: 'open' }, { fetch: down.f, retryForMs: 0, sleep: async () => {} })).rejects.toMatchObject({ status: 503 });
  });

  it('reads the token from the link fragment', () => {
    expect(tokenFromHash('#token=abc%2Bdef')).toBe('abc+def');
    expect(tokenFromHash('#x=1&token=t')).toBe('t');
    expect(tokenFromHash('')).toBeNull();
    expect(tokenFromHash('#tokens=x')).toBeNull();
  });
});
