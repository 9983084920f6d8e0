import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, databaseAway, freePort, metricValue, ServiceProcess, startPrivateRedis, startStack, type PrivateRedis, type Stack, type TestEnv } from '@livevote/harness';

// Host sessions on a stack of its own, on a private Redis (the last case stops it), with
// RATE_LIMIT=off (the voters' limits only), ALLOWED_ORIGINS set, behind one trusted proxy hop
// (X-Forwarded-Proto: https makes the request secure), and a second server on the same stores.
const PROMO = 'https://promo.votes.example';
let redis: PrivateRedis;
let env: TestEnv;
let stack: Stack;
let second: ServiceProcess;
let secondUrl: string;

beforeAll(async () => {
  redis = await startPrivateRedis('host-sessions');
  env = await createTestEnv('host_sessions', `${redis.url}/0`);
  stack = await startStack({
    ...env,
    env: { RATE_LIMIT: 'off', RATE_LIMIT_HOST_FAILURES_PER_MIN: '4', ALLOWED_ORIGINS: PROMO, TRUST_PROXY: '1' },
    serverEnv: { LOG_LEVEL: 'info' },
  });
  const port = await freePort();
  secondUrl = `http://127.0.0.1:${port}`;
  second = new ServiceProcess({
    name: 'server-2',
    entry: stack.server.options.entry,
    env: { ...stack.server.options.env, PORT: String(port), OPS_PORT: String(await freePort()) },
    readyUrl: `${secondUrl}/readyz`,
  });
  await second.start();
});
afterAll(async () => {
  await second?.stop();
  await stack?.stop();
  await env?.cleanup();
  await redis?.dispose();
});

const bearer = () => ({ authorization: `Bearer ${stack.hostToken}` });
const signIn = async (base = stack.url, headers: Record<string, string> = {}) => {
  const res = await fetch(`${base}/api/host/session`, { method: 'POST', headers: { ...bearer(), ...headers } });
  expect(res.status).toBe(204);
  return res.headers.get('set-cookie') ?? '';
};
const cookieOf = (setCookie: string) => setCookie.split(';')[0]!;
// Each from an address of its own: refusals here must not use up the failure limit's budget.
let client = 1;
const from = () => ({ 'x-forwarded-for': `203.0.113.${client++}` });
const asHost = (cookie: string, base = stack.url) => fetch(`${base}/api/host/round`, { headers: { cookie, ...from() } });
const closedCount = () => metricValue(stack.opsUrl, 'livevote_host_actions_total{action="session_closed"}');
const audits = (action: string) => stack.server.output().split('\n').filter((l) => l.includes('"audit":"host"') && l.includes(`"action":"${action}"`)).length;

describe('host sessions', () => {
  it('are signed with a key derived from the token, not the token itself: a cookie signed with the token is refused', async () => {
    const cookie = cookieOf(await signIn());
    expect((await asHost(cookie)).status).toBe(200);
    const [expiry, epoch] = cookie.slice(cookie.indexOf('=') + 1).split('.');
    for (const forged of [
      `${expiry}.${createHmac('sha256', stack.hostToken).update(`host-session:${expiry}`).digest('base64url')}`,
      `${expiry}.${epoch}.${createHmac('sha256', stack.hostToken).update(`host-session:${expiry}:${epoch}`).digest('base64url')}`,
    ]) {
      expect((await asHost(`lv_host=${forged}`)).status, forged).toBe(401);
    }
  });

  it('sign out everywhere: every session ends at once on every server, and new sign-ins work', async () => {
    const a = cookieOf(await signIn());
    const b = cookieOf(await signIn(secondUrl));
    expect((await asHost(a, secondUrl)).status).toBe(200);
    expect((await asHost(b)).status).toBe(200);
    const before = audits('sessions_revoked');
    const res = await fetch(`${stack.url}/api/host/sessions`, { method: 'DELETE', headers: { cookie: a } });
    expect(res.status).toBe(204);
    expect(res.headers.get('set-cookie')).toMatch(/lv_host=;.*Expires=Thu, 01 Jan 1970/i);
    expect((await asHost(a)).status).toBe(401);
    expect((await asHost(b)).status).toBe(401);
    // The other server caches the epoch for at most a second.
    await expect.poll(async () => [(await asHost(a, secondUrl)).status, (await asHost(b, secondUrl)).status], { timeout: 3000, interval: 100 }).toEqual([401, 401]);
    expect(audits('sessions_revoked')).toBe(before + 1);
    expect((await asHost(cookieOf(await signIn(secondUrl)))).status).toBe(200);
    // Without a credential: 401, nothing revoked.
    expect((await fetch(`${stack.url}/api/host/sessions`, { method: 'DELETE', headers: from() })).status).toBe(401);
  });

  it('over https the cookie is __Host- prefixed (Secure, Path=/), and only that name counts there', async () => {
    const https = { 'x-forwarded-proto': 'https' };
    const setCookie = await signIn(stack.url, https);
    expect(setCookie).toMatch(/^__Host-lv_host=[^;]+;/);
    expect(setCookie).toMatch(/; Path=\/;/);
    expect(setCookie).toMatch(/; Secure/i);
    expect(setCookie).not.toMatch(/Domain=/i);
    const value = cookieOf(setCookie).slice('__Host-lv_host='.length);
    expect((await fetch(`${stack.url}/api/host/round`, { headers: { ...https, cookie: `__Host-lv_host=${value}` } })).status).toBe(200);
    // The unprefixed name, which any sibling host could set, is not read over https.
    expect((await fetch(`${stack.url}/api/host/round`, { headers: { ...https, ...from(), cookie: `lv_host=${value}` } })).status).toBe(401);
  });

  it('ALLOWED_ORIGINS opens votes to another page, never the host routes: no CORS, and 403 even with the token', async () => {
    // Express routes paths case-insensitively: every spelling that reaches the host routes counts.
    for (const path of ['/api/host/rounds', '/api/Host/rounds', '/api/HOST/round']) {
      const preflight = await fetch(`${stack.url}${path}`, { method: 'OPTIONS', headers: { origin: PROMO, 'access-control-request-method': 'POST' } });
      expect(preflight.headers.get('access-control-allow-origin'), path).toBeNull();
      const read = await fetch(`${stack.url}${path}`, { headers: { ...bearer(), origin: PROMO, 'sec-fetch-site': 'cross-site' } });
      expect([read.status, read.headers.get('access-control-allow-origin')], path).toEqual([403, null]);
    }
    expect((await fetch(`${stack.url}/api/HOST/round`, { headers: bearer() })).status).toBe(200);
    const forced = await fetch(`${stack.url}/api/host/rounds`, { method: 'POST', headers: { ...bearer(), origin: PROMO, 'sec-fetch-site': 'same-site' } });
    expect(forced.status).toBe(403);
    // The vote route does take that origin.
    const vote = await fetch(`${stack.url}/api/vote`, { method: 'OPTIONS', headers: { origin: PROMO, 'access-control-request-method': 'POST' } });
    expect(vote.headers.get('access-control-allow-origin')).toBe(PROMO);
  });

  it('an unauthenticated sign-out clears the cookie but writes no audit line and counts nothing; a signed-in one does', async () => {
    const before = audits('session_closed');
    const counted = await closedCount();
    const anon = await fetch(`${stack.url}/api/host/session`, { method: 'DELETE' });
    expect(anon.status).toBe(204);
    expect(anon.headers.get('set-cookie')).toMatch(/lv_host=;/);
    const forged = await fetch(`${stack.url}/api/host/session`, { method: 'DELETE', headers: { cookie: 'lv_host=1.0.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' } });
    expect(forged.status).toBe(204);
    expect(audits('session_closed')).toBe(before);
    expect(await closedCount()).toBe(counted);
    const signedIn = await fetch(`${stack.url}/api/host/session`, { method: 'DELETE', headers: { cookie: cookieOf(await signIn()) } });
    expect(signedIn.status).toBe(204);
    await expect.poll(() => audits('session_closed'), { timeout: 5000 }).toBe(before + 1);
    expect(await closedCount()).toBe(counted + 1);
  });

  it('a session that cannot be checked (PostgreSQL away) is refused with 503 + Retry-After on every server, never let through', async () => {
    const cookie = cookieOf(await signIn());
    const away = databaseAway(env.databaseUrl);
    const startedAt = performance.now();
    await away.refuse();
    try {
      // Each server may still use the epoch it read less than its cache time (1 s) ago (then the
      // round read itself answers 503); after that the session check itself refuses.
      const refusal = async (base: string) => {
        const res = await asHost(cookie, base);
        return { status: res.status, retryAfter: Number(res.headers.get('retry-after')) > 0, error: ((await res.json()) as { error: string }).error };
      };
      for (const base of [stack.url, secondUrl]) {
        await expect.poll(() => refusal(base), { timeout: 3000, interval: 50 }).toEqual({ status: 503, retryAfter: true, error: expect.stringMatching(/sessions cannot be checked/) });
      }
      console.log(`host sessions refused (503) on both servers ${Math.round(performance.now() - startedAt)} ms after PostgreSQL went away`);
      expect((await fetch(`${stack.url}/api/host/session`, { method: 'POST', headers: bearer() })).status).toBe(503);
      expect((await fetch(`${stack.url}/api/host/sessions`, { method: 'DELETE', headers: bearer() })).status).toBe(503);
    } finally {
      await away.allow();
    }
    // Nothing was revoked while it was away: the session is good again.
    await expect.poll(async () => (await asHost(cookie)).status, { timeout: 10_000 }).toBe(200);
  });

  it('the failure limit stays on with RATE_LIMIT=off (voters unlimited), and fails closed when Redis cannot count', async () => {
    const guess = (i: number) => fetch(`${stack.url}/api/host/round`, { headers: { authorization: `Bearer wrong-guess-${i}-0123456789`, 'x-forwarded-for': '198.51.100.7' } });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await guess(i)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    await redis.stop();
    const down = await fetch(`${stack.url}/api/host/round`, { headers: { authorization: 'Bearer another-wrong-guess-0123', 'x-forwarded-for': '198.51.100.8' } });
    expect(down.status).toBe(503);
    expect(Number(down.headers.get('retry-after'))).toBeGreaterThan(0);
    // The operator's log says so, not that guesses pass unlimited.
    await expect.poll(() => stack.server.output()).toMatch(/"limiter":"host".*host requests without a valid credential are refused/);
    // The token itself is never counted, so it still works.
    expect((await fetch(`${stack.url}/api/host/round`, { headers: bearer() })).status).toBe(200);
  });
});
