import { describe, expect, it } from 'vitest';
import { HostRequestFailed, NotSignedIn, changeRound, getRound, signIn, tokenFromHash } from './host-api.ts';

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

  it('sends a change as JSON PATCH', async () => {
    const { f, seen } = fake(200, { round: 2, voting: 'closed' });
    await changeRound({ voting: 'closed' }, f);
    expect(seen[0]!.init).toMatchObject({ method: 'PATCH', body: '{"voting":"closed"}', headers: { 'content-type': 'application/json' } });
  });

  it('reads the token from the link fragment', () => {
    expect(tokenFromHash('#token=abc%2Bdef')).toBe('abc+def');
    expect(tokenFromHash('#x=1&token=t')).toBe('t');
    expect(tokenFromHash('')).toBeNull();
    expect(tokenFromHash('#tokens=x')).toBeNull();
  });
});
