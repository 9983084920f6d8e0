import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRetryAfter, rateLimitWaitSeconds, retryDelayMs, sendVote } from './vote-sender.ts';

interface Seen {
  key: string | undefined;
  body: string;
  contentType: string | undefined;
}

type Step = (req: IncomingMessage, res: ServerResponse) => void;

/** A real HTTP server that answers each POST with the next scripted step and records what it got. */
async function scriptedServer(steps: Step[]): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ key: req.headers['idempotency-key'] as string | undefined, body, contentType: req.headers['content-type'] });
      const step = steps[Math.min(seen.length - 1, steps.length - 1)]!;
      step(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Step => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const dropConnection: Step = (req) => req.socket.destroy();

const fast = { baseDelayMs: 5, maxDelayMs: 20 };

describe('sendVote', () => {
  it('retries a 503 with the same Idempotency-Key until the 202', async () => {
    const { url, seen } = await scriptedServer([
      json(503, { error: 'temporarily unavailable' }, { 'retry-after': '0' }),
      json(503, { error: 'temporarily unavailable' }, { 'retry-after': '0' }),
      json(202, { id: 'vote-abc-123' }),
    ]);
    const retries: string[] = [];
    const out = await sendVote('cats', { baseUrl: url, key: 'key-0001-same', ...fast, onRetry: (r) => retries.push(r.reason) });
    expect(out).toEqual({ kind: 'accepted', id: 'vote-abc-123', attempts: 3, replayed: false });
    expect(seen.map((s) => s.key)).toEqual(['key-0001-same', 'key-0001-same', 'key-0001-same']);
    expect(seen.every((s) => s.body === '{"option":"cats"}' && s.contentType === 'application/json')).toBe(true);
    expect(retries).toEqual(['HTTP 503', 'HTTP 503']);
  });

  it('retries a dropped connection with the same key, generating one when none is given', async () => {
    const { url, seen } = await scriptedServer([dropConnection, json(202, { id: 'v2' }, { 'idempotent-replayed': 'true' })]);
    const out = await sendVote('dogs', { baseUrl: url, ...fast });
    expect(out).toMatchObject({ kind: 'accepted', id: 'v2', attempts: 2, replayed: true });
    expect(seen).toHaveLength(2);
    expect(seen[0]!.key).toMatch(/^[A-Za-z0-9_.:-]{8,128}$/);
    expect(seen[1]!.key).toBe(seen[0]!.key);
  });

  it('hands a 429 back with its wait and does not retry it', async () => {
    const { url, seen } = await scriptedServer([json(429, { error: 'slow down' }, { 'retry-after': '12' })]);
    const out = await sendVote('cats', { baseUrl: url, ...fast });
    expect(out).toEqual({ kind: 'rate-limited', retryAfterSeconds: 12 });
    expect(seen).toHaveLength(1);
  });

  it('does not retry a refused body', async () => {
    const { url, seen } = await scriptedServer([json(422, { error: 'body must be {"option":"cats"} or {"option":"dogs"}' })]);
    const out = await sendVote('cats', { baseUrl: url, ...fast });
    expect(out).toEqual({ kind: 'rejected', status: 422, message: 'body must be {"option":"cats"} or {"option":"dogs"}' });
    expect(seen).toHaveLength(1);
  });

  it('gives up after maxAttempts of 503s', async () => {
    const { url, seen } = await scriptedServer([json(503, { error: 'down' }, { 'retry-after': '0' })]);
    const out = await sendVote('cats', { baseUrl: url, ...fast, maxAttempts: 3 });
    expect(out).toEqual({ kind: 'gave-up', attempts: 3 });
    expect(new Set(seen.map((s) => s.key)).size).toBe(1);
  });

  it('stops when aborted', async () => {
    const { url } = await scriptedServer([json(503, {}, { 'retry-after': '30' })]);
    const ac = new AbortController();
    const out = sendVote('cats', { baseUrl: url, baseDelayMs: 5, maxDelayMs: 60_000, signal: ac.signal, onRetry: () => ac.abort() });
    await expect(out).resolves.toEqual({ kind: 'aborted' });
  });
});

describe('retry timing', () => {
  it('honours Retry-After as a floor and backs off exponentially', () => {
    expect(retryDelayMs(1, null, 500, 8000, () => 1)).toBe(500);
    expect(retryDelayMs(3, null, 500, 8000, () => 1)).toBe(2000);
    expect(retryDelayMs(10, null, 500, 8000, () => 1)).toBe(8000);
    expect(retryDelayMs(1, 3, 500, 8000, () => 1)).toBe(3000);
    expect(retryDelayMs(1, null, 500, 8000, () => 0)).toBe(250);
  });
  it('reads Retry-After in seconds or as a date', () => {
    expect(parseRetryAfter('7')).toBe(7);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 0)).toBe(10);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter(null)).toBeNull();
  });
  it('falls back to RateLimit headers, then to a default', () => {
    expect(rateLimitWaitSeconds(new Headers({ 'retry-after': '4' }))).toBe(4);
    expect(rateLimitWaitSeconds(new Headers({ 'ratelimit-reset': '9' }))).toBe(9);
    expect(rateLimitWaitSeconds(new Headers({ ratelimit: 'limit=10, remaining=0, reset=6' }))).toBe(6);
    expect(rateLimitWaitSeconds(new Headers({ ratelimit: '"default";r=0;t=5' }))).toBe(5);
    expect(rateLimitWaitSeconds(new Headers())).toBe(10);
  });
});
