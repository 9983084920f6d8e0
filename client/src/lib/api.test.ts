import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ROUTES } from '@livevote/contract/constants';
import { API, getResults, getVoteStatus, getWatchers, postVote } from './api.ts';

interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A real HTTP server that answers every request with `status` and `body`, and records what it got. */
async function answering(status: number, body: string): Promise<{ baseUrl: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body: text });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('api paths', () => {
  it('come from the contract', () => {
    expect(API.vote).toBe(ROUTES.vote);
    expect(API.results).toBe(ROUTES.results);
    expect(API.stream).toBe(ROUTES.stream);
    expect(API.voteStatus('a/b c')).toBe('/api/vote/a%2Fb%20c');
  });
});

describe('postVote', () => {
  it('POSTs the option as JSON with the Idempotency-Key', async () => {
    const { baseUrl, seen } = await answering(202, '{"id":"v1"}');
    const res = await postVote('dogs', 'key-0001', { baseUrl });
    expect(res.status).toBe(202);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/api/vote', body: '{"option":"dogs"}' });
    expect(seen[0]!.headers).toMatchObject({ 'content-type': 'application/json', 'idempotency-key': 'key-0001', accept: 'application/json' });
  });
});

describe('getVoteStatus', () => {
  it('reads counted and seq', async () => {
    const { baseUrl, seen } = await answering(200, '{"id":"v1","counted":true,"seq":42}');
    expect(await getVoteStatus('v1', { baseUrl })).toEqual({ counted: true, seq: 42 });
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/api/vote/v1' });
  });

  it('says not counted without a seq', async () => {
    const { baseUrl } = await answering(200, '{"id":"v1","counted":false}');
    expect(await getVoteStatus('v1', { baseUrl })).toEqual({ counted: false });
  });

  it('throws on an HTTP error, so the watcher asks again on the next tally', async () => {
    const { baseUrl } = await answering(503, '{"error":"down"}');
    await expect(getVoteStatus('v1', { baseUrl })).rejects.toThrow('HTTP 503');
  });
});

describe('getWatchers', () => {
  it('reads the count, and refuses what is not one', async () => {
    const { baseUrl, seen } = await answering(200, '{"watchers":1234}');
    expect(await getWatchers({ baseUrl })).toBe(1234);
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/api/watchers' });
    const bad = await answering(200, '{"watchers":-1}');
    await expect(getWatchers({ baseUrl: bad.baseUrl })).rejects.toThrow('not a watcher count');
  });
});

describe('getResults', () => {
  it('parses the totals', async () => {
    const { baseUrl, seen } = await answering(200, '{"round":2,"voting":"open","results":"shown","cats":2,"dogs":1,"total":3,"seq":7,"updatedAt":"2025-01-01T00:00:00.000Z"}');
    expect(await getResults({ baseUrl, timeoutMs: 1_000 })).toEqual({ round: 2, voting: 'open', results: 'shown', cats: 2, dogs: 1, total: 3, seq: 7, updatedAt: '2025-01-01T00:00:00.000Z' });
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/api/results' });
  });

  it('answers null for a body that is not a tally', async () => {
    const { baseUrl } = await answering(200, '{"cats":null,"dogs":null,"total":null,"seq":7}');
    expect(await getResults({ baseUrl, timeoutMs: 1_000 })).toBeNull();
  });

  it('throws on an HTTP error and when nothing answers', async () => {
    const { baseUrl } = await answering(503, '{"error":"down"}');
    await expect(getResults({ baseUrl, timeoutMs: 1_000 })).rejects.toThrow('HTTP 503');
    await expect(getResults({ baseUrl: 'http://127.0.0.1:9', timeoutMs: 1_000 })).rejects.toThrow();
  });
});
