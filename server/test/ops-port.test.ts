/**
 * The server's metrics live on its ops port (OPS_PORT at OPS_HOST), never on the public one: they
 * carry the vote counts per option, which the public port must not tell while results are hidden.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { castVote, createTestEnv, publicResults, startStack, type Stack, type TestEnv } from '@livevote/harness';

let env: TestEnv;
let stack: Stack;
// A stand-in for the SvelteKit build that answers every path it is given: were /metrics passed
// on to the client, it would come back 200.
const clientDir = mkdtempSync(path.join(tmpdir(), 'lv-ops-client-'));
writeFileSync(
  path.join(clientDir, 'handler.js'),
  "export const handler = (_req, res) => { res.setHeader('content-type', 'text/html'); res.end('<p>client page</p>'); };\n",
);

beforeAll(async () => {
  env = await createTestEnv('ops_port');
  stack = await startStack({ ...env, clientDir, env: { RATE_LIMIT: 'off' } });
});
afterAll(async () => {
  await stack?.stop();
  await env?.cleanup();
  rmSync(clientDir, { recursive: true, force: true });
});

const host = (method: string, route: string, body?: unknown) =>
  fetch(`${stack.url}${route}`, {
    method,
    headers: { authorization: `Bearer ${stack.hostToken}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });

describe('the public port', () => {
  it('answers GET /metrics with the API\'s JSON 404, not the metrics and not the client', async () => {
    for (const p of ['/metrics', '/metrics?format=text', '/metrics/']) {
      const res = await fetch(`${stack.url}${p}`);
      expect(res.status, p).toBe(404);
      expect(res.headers.get('content-type'), p).toMatch(/^application\/json/);
      const body = (await res.json()) as { error: string };
      expect(body.error, p).toMatch(/ops port/);
    }
    // The stand-in client still gets everything else, so the 404 above is the server's own.
    expect(await (await fetch(`${stack.url}/present`)).text()).toContain('client page');
  });

  it('still answers the probes', async () => {
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
  });
});

describe('the ops port', () => {
  it('serves the metrics, probes and nothing else, on a port apart from the public one', async () => {
    expect(stack.opsPort).not.toBe(stack.port);
    const res = await fetch(`${stack.opsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toMatch(/^# HELP livevote_/m);
    expect((await fetch(`${stack.opsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.opsUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${stack.opsUrl}/api/results`)).status).toBe(404);
    expect((await fetch(`${stack.opsUrl}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('is bound only where OPS_HOST says (127.0.0.1 here), while the public port takes any address', async () => {
    // 127.0.0.2 is this machine too, but a socket bound to 127.0.0.1 does not accept it.
    expect((await fetch(`http://127.0.0.2:${stack.port}/healthz`)).status).toBe(200);
    await expect(fetch(`http://127.0.0.2:${stack.opsPort}/metrics`)).rejects.toThrow();
  });

  it('tells the per-option counts that the public port hides while results are hidden', async () => {
    expect((await host('PATCH', '/api/host/round', { results: 'hidden' })).status).toBe(200);
    expect((await castVote(stack.url, 'dogs', `ops-port-${Date.now()}`)).status).toBe(202);
    await expect.poll(() => publicResults(stack.url), { timeout: 5000 }).toMatchObject({ results: 'hidden', dogs: null, total: null });
    const scrape = async () => (await (await fetch(`${stack.opsUrl}/metrics`)).text()).match(/^livevote_votes_accepted_total\{option="dogs"\} (\d+)/m)?.[1];
    await expect.poll(scrape, { timeout: 5000 }).toBe('1');
    expect((await fetch(`${stack.url}/metrics`)).status).toBe(404);
  });
});
