/**
 * The yardstick for `npm run bench`: bare node:http that parses the same JSON body and answers
 * 202, with none of the API's work (no validation library, no Redis). Run as its own process.
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/api/vote') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= 1024) chunks.push(c);
  });
  req.on('end', () => {
    let option: unknown;
    try {
      option = (JSON.parse(Buffer.concat(chunks).toString()) as { option?: unknown }).option;
    } catch {
      option = undefined;
    }
    if (size > 1024 || (option !== 'cats' && option !== 'dogs')) {
      res.writeHead(400).end();
      return;
    }
    const body = JSON.stringify({ id: randomUUID() });
    res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
