import { afterAll, expect, it } from 'vitest';
import { createOpsServer, listen } from '../src/ops-server.ts';

const registry = { contentType: 'text/plain; version=0.0.4; charset=utf-8', metrics: async () => '# HELP up x\nup 1\n' };
let readiness: () => Promise<boolean> = async () => true;
const ops = createOpsServer({ registry, ready: () => readiness() });
const other = createOpsServer({ registry, ready: async () => true });
afterAll(() => {
  ops.close();
  other.close();
});

it('serves the metrics and the probes, refuses other methods and answers anything else 404', async () => {
  const port = await listen(ops, 0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const metrics = await fetch(`${url}/metrics?x=1`);
  expect([metrics.status, metrics.headers.get('content-type'), await metrics.text()]).toEqual([200, registry.contentType, '# HELP up x\nup 1\n']);
  expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
  expect((await fetch(`${url}/readyz`)).status).toBe(200);
  readiness = async () => false;
  expect((await fetch(`${url}/readyz`)).status).toBe(503);
  readiness = async () => {
    throw new Error('check failed');
  };
  expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ ready: false });
  expect((await fetch(`${url}/api/results`)).status).toBe(404);
  const post = await fetch(`${url}/metrics`, { method: 'POST' });
  expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
});

it('listen() rejects a taken port instead of emitting an unhandled error', async () => {
  const { port } = ops.address() as { port: number };
  await expect(listen(other, port, '127.0.0.1')).rejects.toThrow(/EADDRINUSE/);
  expect(other.listening).toBe(false);
});
