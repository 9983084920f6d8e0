import { createServer, type Server } from 'node:http';
import { ROUTES } from '@livevote/contract';

/** What the ops port needs of a prom-client Registry (structural, so the kit needs no prom-client). */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface OpsServerOptions {
  registry: MetricsSource;
  /** Resolves when the service can do its work (what "ready" means is the service's own). */
  ready: () => Promise<boolean>;
}

/**
 * A service's operations port: ROUTES.healthz, ROUTES.readyz, ROUTES.metrics and nothing else.
 * It is a port of its own, apart from any public one, so that what the metrics tell (the vote
 * counts per option, even while a round's results are hidden) reaches only who may scrape it.
 */
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

/**
 * Listens on `port` at `host` (every interface when none) and resolves with the port bound (the
 * one picked for port 0). Rejects instead of emitting 'error', so a taken port ends start-up in
 * the service's main with a message rather than as an unhandled event.
 */
export function listen(server: Server, port: number, host?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}
