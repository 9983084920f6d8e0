import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { ROUTES } from '@livevote/contract';

export interface OpsServerOptions {
  registry: Registry;
  /** Resolves when the consumer can do its work (Redis and PostgreSQL reachable, not stopping). */
  ready: () => Promise<boolean>;
}

/** The consumer's small HTTP port: ROUTES.healthz, ROUTES.readyz, ROUTES.metrics and nothing else. */
export function createOpsServer({ registry, ready }: OpsServerOptions): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === ROUTES.healthz) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (path === ROUTES.readyz) {
      ready().then(
        (ok) => res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: ok })),
        () => res.writeHead(503, { 'content-type': 'application/json' }).end('{"ready":false}'),
      );
    } else if (path === ROUTES.metrics) {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
      );
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    }
  });
}
