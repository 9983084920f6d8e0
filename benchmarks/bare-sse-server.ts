/**
 * The floor for the watcher part of `npm run bench`: bare node:http holding SSE streams and, on
 * `POST /publish?seq=N`, writing one pre-encoded frame to every one of them. None of the
 * server's work (no Express, no limits, no coalescing, no Redis). Run as its own process.
 */
import { createServer, type ServerResponse } from 'node:http';

const clients = new Set<ServerResponse>();
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://bench');
  if (req.method === 'GET' && url.pathname === '/api/stream') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.socket?.setNoDelay(true);
    res.write('retry: 2000\n\n');
    clients.add(res);
    req.on('close', () => clients.delete(res));
  } else if (req.method === 'POST' && url.pathname === '/publish') {
    const seq = Number(url.searchParams.get('seq'));
    const frame = Buffer.from(`id: ${seq}\nevent: tally\ndata: {"seq":${seq},"cats":${seq},"dogs":0,"total":${seq}}\n\n`);
    for (const c of clients) c.write(frame);
    res.writeHead(204).end();
  } else if (url.pathname === '/clients') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(String(clients.size));
  } else {
    res.writeHead(404).end();
  }
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
