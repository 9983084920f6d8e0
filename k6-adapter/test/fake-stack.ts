/**
 * A small in-process stand-in for the live-vote HTTP contract, with switchable faults, so the
 * adapter tests can show that a script run FAILS when the system is wrong (a vote counted
 * twice, a vote lost, a wrong route, a stream that never updates) and passes when it is right.
 * Counting is asynchronous here too: a vote is applied ~20 ms after its 202.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** lagging-status: vote status is read from a replica that is behind (a counted vote reads "not counted" the first two times). */
export type Fault = 'none' | 'double-count' | 'lose-votes' | 'no-vote-route' | 'frozen-stream' | 'lagging-status';

export interface FakeStack {
  url: string;
  close(): Promise<void>;
}

export async function startFakeStack(fault: Fault = 'none'): Promise<FakeStack> {
  const tally = { cats: 0, dogs: 0, total: 0, seq: 0, updatedAt: new Date().toISOString() };
  const countedIn = new Map<string, number>();
  const statusReads = new Map<string, number>();
  const seen = new Map<string, string>();
  const streams = new Set<http.ServerResponse>();
  let nextId = 1;

  const frame = () => `id: ${tally.seq}\nevent: tally\ndata: ${JSON.stringify(tally)}\n\n`;
  const apply = (id: string, option: 'cats' | 'dogs') => {
    if (fault === 'lose-votes') return;
    const times = fault === 'double-count' ? 2 : 1;
    tally[option] += times;
    tally.total += times;
    tally.seq += 1;
    tally.updatedAt = new Date().toISOString();
    countedIn.set(id, tally.seq);
    if (fault !== 'frozen-stream') for (const s of streams) s.write(frame());
  };
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/readyz') return json(res, 200, { ready: true });
    if (req.method === 'GET' && url.pathname === '/api/results') return json(res, 200, tally);
    if (req.method === 'GET' && url.pathname.startsWith('/api/vote/')) {
      const id = decodeURIComponent(url.pathname.slice('/api/vote/'.length));
      statusReads.set(id, (statusReads.get(id) ?? 0) + 1);
      const lagging = fault === 'lagging-status' && (statusReads.get(id) ?? 0) <= 2;
      const seq = lagging ? undefined : countedIn.get(id);
      // As the real server answers: once counted, the seq and the round (one round here).
      return json(res, 200, seq === undefined ? { id, counted: false } : { id, counted: true, seq, round: 1 });
    }
    if (req.method === 'POST' && url.pathname === '/api/vote' && fault !== 'no-vote-route') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (!/application\/json/.test(req.headers['content-type'] ?? '')) return json(res, 415, { error: 'json only' });
        let option: unknown;
        try {
          option = (JSON.parse(body) as { option?: unknown }).option;
        } catch {
          return json(res, 400, { error: 'bad json' });
        }
        if (option !== 'cats' && option !== 'dogs') return json(res, 422, { error: 'bad option' });
        const key = req.headers['idempotency-key'];
        const id = typeof key === 'string' ? key : `v${nextId++}`;
        if (seen.has(id)) return json(res, 202, { id });
        seen.set(id, option);
        setTimeout(() => apply(id, option), 20);
        json(res, 202, { id });
      });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      res.write('retry: 1000\n\n');
      res.write(frame());
      streams.add(res);
      const beat = setInterval(() => res.write(':\n\n'), 200);
      req.on('close', () => {
        clearInterval(beat);
        streams.delete(res);
      });
      return;
    }
    json(res, 404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of streams) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
