/**
 * The `helm test` script (files/vote-roundtrip.mjs, shipped in a ConfigMap) run with Node 24
 * against small stand-ins of the API that behave right, and wrong in the ways it must catch.
 */
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestEnv, startStack } from '@livevote/harness';
import { chartDir, render, repoRoot } from './lib.ts';

interface Behaviour {
  /** Polls of GET /api/vote/:id that answer counted:false before the vote is counted; Infinity: never. */
  countedAfter: number;
  /** Give a retried Idempotency-Key a new id (a dedupe bug). */
  newIdOnRetry?: boolean;
  /** Leave the totals unchanged after counting. */
  totalsStuck?: boolean;
  voteStatus?: number;
}

function fakeApi(b: Behaviour) {
  const tally = { cats: 3, dogs: 4, total: 7, seq: 10, updatedAt: new Date(0).toISOString() };
  const ids = new Map<string, string>();
  let polls = 0;
  let n = 0;
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/api/results') return json(res, 200, tally);
    if (req.method === 'POST' && url.pathname === '/api/vote') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (b.voteStatus) return json(res, b.voteStatus, { error: 'nope' });
        const parsed = JSON.parse(body) as { option: string };
        if (parsed.option !== 'cats' || req.headers['content-type'] !== 'application/json') return json(res, 400, {});
        const key = String(req.headers['idempotency-key']);
        if (!ids.has(key) || b.newIdOnRetry) ids.set(key, `vote-${(n += 1)}`);
        json(res, 202, { id: ids.get(key) });
      });
      return;
    }
    const m = /^\/api\/vote\/(.+)$/.exec(url.pathname);
    if (req.method === 'GET' && m) {
      polls += 1;
      if (polls <= b.countedAfter) return json(res, 200, { id: m[1], counted: false });
      if (!b.totalsStuck && tally.seq === 10) Object.assign(tally, { cats: 4, total: 8, seq: 11 });
      return json(res, 200, { id: m[1], counted: true, seq: 11 });
    }
    json(res, 404, {});
  });
  return server;
}

async function runAgainst(serverUrl: string, env: Record<string, string> = {}) {
  const child = spawn(join(repoRoot, 'node_modules', '.bin', 'node'), [join(chartDir, 'files', 'vote-roundtrip.mjs')], {
    env: { PATH: process.env.PATH, SERVER_URL: serverUrl, TIMEOUT_SECONDS: '5', POLL_MS: '20', ...env },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, out };
}

async function runScript(b: Behaviour, env: Record<string, string> = {}) {
  const server = fakeApi(b);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await runAgainst(`http://127.0.0.1:${port}`, env);
  } finally {
    server.close();
  }
}

describe('helm test script (vote-roundtrip.mjs)', () => {
  it('passes when the vote is accepted, deduplicated on retry, counted and visible in the totals', async () => {
    const r = await runScript({ countedAfter: 3 });
    expect(r.out).toMatch(/OK: vote vote-1 counted in tally 11/);
    expect(r.code).toBe(0);
  });

  it('fails when the vote is never counted', async () => {
    const r = await runScript({ countedAfter: Infinity }, { TIMEOUT_SECONDS: '0.3' });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/not counted within 300 ms/);
  });

  it('fails when a retried vote gets a second id', async () => {
    const r = await runScript({ countedAfter: 0, newIdOnRetry: true });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/retried vote got another id/);
  });

  it('fails when the totals do not move', async () => {
    const r = await runScript({ countedAfter: 0, totalsStuck: true }, { TIMEOUT_SECONDS: '0.3' });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/total went from 7 to 7|seq 10 stayed behind/);
  });

  it('fails when the API refuses the vote', async () => {
    const r = await runScript({ countedAfter: 0, voteStatus: 503 });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/POST \/api\/vote answered 503/);
  });

  it('passes against the real server and consumer (Redis and PostgreSQL on their default local ports)', async () => {
    const env = await createTestEnv('chart_helm_test');
    const stack = await startStack(env).catch(async (err) => {
      await env.cleanup();
      throw err;
    });
    try {
      const r = await runAgainst(stack.url, { TIMEOUT_SECONDS: '30' });
      expect(r.out).toMatch(/vote-roundtrip: OK: vote helm-test-\S+ counted in tally \d+/);
      expect(r.code).toBe(0);
    } finally {
      await stack.stop();
      await env.cleanup();
    }
  });

  it('is what the chart ships in the test hook, run by a hook-annotated pod against the server Service', () => {
    const docs = render([]);
    const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.annotations?.['helm.sh/hook'] === 'test');
    const pod = docs.find((d) => d.kind === 'Pod' && d.metadata.annotations?.['helm.sh/hook'] === 'test');
    expect(cm.data['vote-roundtrip.mjs']).toContain('vote-roundtrip: OK');
    expect(pod.spec.containers[0].args).toEqual(['/test/vote-roundtrip.mjs']);
    const env = Object.fromEntries(pod.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(env.SERVER_URL).toBe('http://lv-livevote-server.lv-livevote-api.svc:3000');
  });
});
