import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, startStack, type Stack, type TestEnv } from '@livevote/harness';

// Charsets, empty bodies and CORS for ALLOWED_ORIGINS, against the real server process.
const ALLOWED = 'https://votes.example';
const OTHER = 'https://elsewhere.example';

let env: TestEnv;
let stack: Stack;

beforeAll(async () => {
  env = await createTestEnv('http_details');
  stack = await startStack({ ...env, consumers: 0, env: { RATE_LIMIT: 'off', ALLOWED_ORIGINS: `${ALLOWED}, https://other-allowed.example:8443` } });
});
afterAll(async () => {
  await stack?.stop();
  await env?.cleanup();
});

const post = (body: string | Uint8Array, headers: Record<string, string>) => fetch(`${stack.url}/api/vote`, { method: 'POST', headers, body });
const vote = '{"option":"cats"}';

describe('JSON on the wire is UTF-8 (RFC 8259 §8.1)', () => {
  it.each(['utf-7', 'utf-16le', 'utf-16', 'utf-32', 'UTF-16BE', 'iso-8859-1'])('answers 415 to charset=%s', async (charset) => {
    const res = await post(vote, { 'content-type': `application/json; charset=${charset}` });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { error: string }).error).toMatch(/UTF-8/);
  });

  it('answers 415 to a UTF-16LE body declared as such', async () => {
    const res = await post(new Uint8Array(Buffer.from(vote, 'utf16le')), { 'content-type': 'application/json; charset=utf-16le' });
    expect(res.status).toBe(415);
  });

  it.each(['application/json', 'application/json; charset=utf-8', 'application/json; charset=UTF-8', 'application/json;charset="utf-8"'])(
    'accepts %s with 202',
    async (type) => {
      expect((await post(vote, { 'content-type': type })).status).toBe(202);
    },
  );

  it('answers 400, not 415, to an empty body with a JSON content type', async () => {
    const res = await post('', { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/empty/);
  });

  it('answers 400 to a JSON POST that sends no body at all (no Content-Length, no Transfer-Encoding)', async () => {
    const head = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(stack.port, '127.0.0.1', () => {
        sock.end('POST /api/vote HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n');
      });
      let data = '';
      sock.on('data', (d) => (data += d.toString()));
      sock.on('end', () => resolve(data));
      sock.on('error', reject);
    });
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
  });
});

describe('CORS for ALLOWED_ORIGINS', () => {
  const preflight = (origin: string) =>
    fetch(`${stack.url}/api/vote`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,idempotency-key' },
    });

  it('lets a page on an allowed origin reconnect its EventSource with Last-Event-ID', async () => {
    const res = await fetch(`${stack.url}/api/stream`, {
      method: 'OPTIONS',
      headers: { origin: ALLOWED, 'access-control-request-method': 'GET', 'access-control-request-headers': 'last-event-id' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect((res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/)).toContain('last-event-id');
  });

  it('answers the preflight of a JSON POST with an Idempotency-Key from an allowed origin', async () => {
    const res = await preflight(ALLOWED);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    const allowHeaders = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    expect(allowHeaders).toEqual(expect.arrayContaining(['content-type', 'idempotency-key']));
    expect((res.headers.get('access-control-allow-methods') ?? '').split(/\s*,\s*/)).toContain('POST');
    expect(res.headers.get('vary') ?? '').toMatch(/\bOrigin\b/i);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('allows every listed origin, ports included', async () => {
    const res = await preflight('https://other-allowed.example:8443');
    expect(res.headers.get('access-control-allow-origin')).toBe('https://other-allowed.example:8443');
  });

  it('gives no Access-Control-Allow-* to another origin', async () => {
    const res = await preflight(OTHER);
    for (const h of ['access-control-allow-origin', 'access-control-allow-headers', 'access-control-allow-methods']) expect(res.headers.get(h), h).toBeNull();
  });

  it('exposes Retry-After and Idempotent-Replayed to an allowed origin on the POST itself', async () => {
    const res = await post(vote, { 'content-type': 'application/json', origin: ALLOWED, 'sec-fetch-site': 'cross-site', 'idempotency-key': `cors-${Date.now()}` });
    expect(res.status).toBe(202);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(['retry-after', 'idempotent-replayed']));
  });

  it('lets an allowed origin read results and the live stream', async () => {
    const r = await fetch(`${stack.url}/api/results`, { headers: { origin: ALLOWED } });
    expect(r.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    const ac = new AbortController();
    const s = await fetch(`${stack.url}/api/stream`, { headers: { origin: ALLOWED }, signal: ac.signal });
    expect(s.status).toBe(200);
    expect(s.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    ac.abort();
    const other = await fetch(`${stack.url}/api/results`, { headers: { origin: OTHER } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
