import type { RequestHandler } from './$types';

/** Liveness of the client workload itself (Kubernetes probes); it does not call the API. */
export const GET: RequestHandler = () =>
  new Response(JSON.stringify({ status: 'ok' }), {
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  });
