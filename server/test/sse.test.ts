import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { commitUnannounced, createTestEnv, freePort, RedisServer, startStack, type Stack, type TestEnv, TallyWatcher, castMany, castVote, results } from '@livevote/harness';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function stackFor(name: string, serverEnv: Record<string, string> = {}, redisUrl?: string): Promise<{ env: TestEnv; stack: Stack }> {
  const env = await createTestEnv(name, redisUrl);
  cleanups.push(() => env.cleanup());
  const stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' }, serverEnv });
  cleanups.push(() => stack.stop());
  return { env, stack };
}

/** How many of the screens do not (yet) satisfy `ok`: polled until 0. */
const behind = (screens: TallyWatcher[], ok: (s: TallyWatcher) => unknown) => screens.filter((s) => !ok(s)).length;

/** The first tally a screen receives. */
const firstTally = (w: TallyWatcher, what: string) =>
  vi.waitFor(() => {
    expect(w.latest, what).toBeDefined();
    return w.latest!;
  }, { timeout: 15_000, interval: 50 });

function watchers(url: string, n: number): TallyWatcher[] {
  const list = Array.from({ length: n }, () => new TallyWatcher(url));
  cleanups.push(() => list.forEach((w) => w.close()));
  return list;
}

/** Opens a stream from a chosen source address and reports only the status code. */
function streamStatus(url: string, localAddress: string): Promise<{ status: number; retryAfter?: string; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/api/stream`, { localAddress, agent: false }, (res) => {
      const out = { status: res.statusCode ?? 0, close: () => req.destroy() } as { status: number; retryAfter?: string; close: () => void };
      if (res.headers['retry-after']) out.retryAfter = String(res.headers['retry-after']);
      if (out.status !== 200) res.resume();
      resolve(out);
    });
    req.on('error', reject);
  });
}

describe('GET /api/stream', () => {
  it('brings 1,000 connected screens to the exact final tallies, never backwards', async () => {
    const { stack } = await stackFor('sse_thousand');
    const screens = watchers(stack.url, 1000);
    await expect.poll(() => behind(screens, (s) => s.frames.length > 0), { message: 'screens without a snapshot', timeout: 30_000 }).toBe(0);
    const outcomes = await castMany(stack.url, 1500, 32);
    expect(outcomes.every((o) => o.status === 202)).toBe(true);
    const final = await vi.waitFor(async () => {
      const r = await results(stack.url);
      expect(r.total, 'all votes counted').toBe(1500);
      return r;
    }, { timeout: 15_000, interval: 50 });
    await expect.poll(() => behind(screens, (s) => s.latest?.seq === final.seq), { message: 'screens not at the final seq', timeout: 20_000 }).toBe(0);
    for (const s of screens) {
      expect(s.latest).toMatchObject({ cats: final.cats, dogs: final.dogs, total: 1500, seq: final.seq });
      expect(s.wentBackwards).toBe(false);
    }
    // Coalescing: far fewer frames than votes reached each screen.
    const maxFrames = Math.max(...screens.map((s) => s.frames.length));
    expect(maxFrames).toBeLessThan(1500);
  });

  it('sends a snapshot at once, the current state on Last-Event-ID, heartbeats and the SSE headers', async () => {
    const { stack } = await stackFor('sse_basics', { SSE_HEARTBEAT_MS: '200' });
    await castVote(stack.url, 'dogs');
    await expect.poll(async () => (await results(stack.url)).total, { message: 'one vote counted', timeout: 15_000 }).toBe(1);

    const first = watchers(stack.url, 1)[0]!;
    const snap = await firstTally(first, 'snapshot');
    expect(snap).toMatchObject({ cats: 0, dogs: 1, total: 1 });

    // A reconnecting browser sends Last-Event-ID; it gets the current state, even from a "future" id.
    const resumed = new TallyWatcher(stack.url, {
      fetch: (u, init) => fetch(u, { ...init, headers: { ...init?.headers, 'last-event-id': '999999' } }),
    });
    cleanups.push(() => resumed.close());
    expect(await firstTally(resumed, 'state after Last-Event-ID')).toEqual(snap);

    const res = await fetch(`${stack.url}/api/stream`);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    expect(res.headers.get('content-encoding')).toBeNull();
    const reader = res.body!.getReader();
    let text = '';
    // Each try reads the next chunk; the stream is done once a heartbeat comment arrived.
    await vi.waitFor(async () => {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
      const heartbeat = /^:\n\n/m.test(text.split('\n\n').slice(2).join('\n\n') + '\n\n') || text.includes('\n\n:\n\n');
      expect(heartbeat, 'a heartbeat comment').toBe(true);
    }, { timeout: 5000, interval: 10 });
    expect(text).toMatch(/^retry: \d+\n\n/);
    await reader.cancel();
  });

  it('frames on the wire: well-formed chunks over HTTP/1.1, an unframed body over HTTP/1.0', async () => {
    const { stack } = await stackFor('sse_wire');
    const port = Number(new URL(stack.url).port);
    const raw = (version: string) => {
      let bytes = Buffer.alloc(0);
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('data', (d) => (bytes = Buffer.concat([bytes, d])));
      s.on('error', () => {});
      s.write(`GET /api/stream ${version}\r\nHost: livevote\r\n\r\n`);
      cleanups.push(() => void s.destroy());
      return () => bytes;
    };
    const v11 = raw('HTTP/1.1');
    const v10 = raw('HTTP/1.0');
    /** The body's SSE text: HTTP/1.1 chunks parsed strictly (sizes must match), HTTP/1.0 as is. */
    const body = (bytes: Buffer, chunked: boolean) => {
      const head = bytes.indexOf('\r\n\r\n');
      if (head < 0) return { headers: '', text: '' };
      const headers = bytes.subarray(0, head).toString();
      let rest = bytes.subarray(head + 4);
      if (!chunked) return { headers, text: rest.toString() };
      let text = '';
      for (;;) {
        const eol = rest.indexOf('\r\n');
        if (eol < 0) break;
        const size = parseInt(rest.subarray(0, eol).toString(), 16);
        expect(Number.isNaN(size), `chunk size line ${JSON.stringify(rest.subarray(0, eol).toString())}`).toBe(false);
        if (rest.length < eol + 2 + size + 2) break;
        expect(rest.subarray(eol + 2 + size, eol + 4 + size).toString(), 'CRLF after a chunk').toBe('\r\n');
        text += rest.subarray(eol + 2, eol + 2 + size).toString();
        rest = rest.subarray(eol + 4 + size);
      }
      return { headers, text };
    };
    const tallies = (text: string) => [...text.matchAll(/id: (\d+)\nevent: tally\ndata: (\{.*\})\n\n/g)].map((m) => ({ id: Number(m[1]), total: (JSON.parse(m[2]!) as { total: number }).total }));
    await expect.poll(() => tallies(body(v11(), true).text).length + tallies(body(v10(), false).text).length >= 2, { timeout: 15_000 }).toBe(true);
    for (let i = 1; i <= 3; i++) {
      expect((await castVote(stack.url, 'cats')).status).toBe(202);
      await expect.poll(() => [tallies(body(v11(), true).text).at(-1)?.total, tallies(body(v10(), false).text).at(-1)?.total], { message: `both streams at ${i} votes`, timeout: 15_000 }).toEqual([i, i]);
    }
    const r11 = body(v11(), true);
    const r10 = body(v10(), false);
    expect(r11.headers).toMatch(/^HTTP\/1\.1 200/);
    expect(r11.headers.toLowerCase()).toContain('transfer-encoding: chunked');
    expect(r10.headers.toLowerCase()).not.toContain('transfer-encoding');
    expect(r10.text).toMatch(/^retry: \d+\n\n/);
    for (const r of [r11, r10]) {
      expect(r.text, 'nothing but SSE fields in the body').toMatch(/^retry: \d+\n\n(id: \d+\nevent: tally\ndata: \{[^\n]*\}\n\n|:\n\n)*$/);
      expect(tallies(r.text).map((t) => t.total)).toEqual([0, 1, 2, 3]);
    }
  });

  it('holds the per-address and total connection caps exactly', async () => {
    const { stack } = await stackFor('sse_caps', { SSE_MAX_CLIENTS: '6', SSE_MAX_PER_IP: '4' });
    const open: { status: number; close: () => void }[] = [];
    cleanups.push(() => open.forEach((o) => o.close()));
    for (let i = 0; i < 4; i++) open.push(await streamStatus(stack.url, '127.0.0.1'));
    expect(open.map((o) => o.status)).toEqual([200, 200, 200, 200]);
    const fifth = await streamStatus(stack.url, '127.0.0.1');
    expect(fifth.status).toBe(429);
    expect(Number(fifth.retryAfter)).toBeGreaterThan(0);
    open.push(await streamStatus(stack.url, '127.0.0.2'), await streamStatus(stack.url, '127.0.0.2'));
    expect(open.slice(4).map((o) => o.status)).toEqual([200, 200]);
    const seventh = await streamStatus(stack.url, '127.0.0.3');
    expect(seventh.status).toBe(503);
    expect(Number(seventh.retryAfter)).toBeGreaterThan(0);
    // A slot freed is a slot available again.
    open.shift()!.close();
    await vi.waitFor(async () => {
      const s = await streamStatus(stack.url, '127.0.0.3');
      open.push(s);
      expect(s.status, 'freed slot reused').toBe(200);
    }, { timeout: 15_000, interval: 50 });
  });

  it('shows PostgreSQL-correct tallies on every screen within 5 s of Redis returning', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lv-redis-sse-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const redis = new RedisServer({ dir, port: await freePort() });
    await redis.start();
    cleanups.push(() => redis.stop());
    const { env, stack } = await stackFor('sse_redis_restart', {}, `${redis.url}/0`);
    const screens = watchers(stack.url, 50);
    await castMany(stack.url, 20, 4);
    await expect.poll(() => behind(screens, (s) => s.latest?.total === 20), { message: 'screens not at 20', timeout: 15_000 }).toBe(0);

    await redis.kill();
    // A tally committed while the subscriber was away: its PUBLISH never reached the server.
    const newSeq = await commitUnannounced(env.databaseUrl, 7);
    await redis.start();
    const back = Date.now();
    // The wait outlasts the 5 s promise, so the timing below is what decides: "resynced, but late"
    // fails there, with the time it took; "never resynced" fails here.
    await expect.poll(() => behind(screens, (s) => s.latest?.seq === newSeq), { message: 'screens not resynced', timeout: 20_000, interval: 20 }).toBe(0);
    expect(Date.now() - back, 'ms from Redis back to every screen resynced').toBeLessThan(5000);
    for (const s of screens) expect(s.latest?.total).toBe(27);
  });

  it('ends open streams promptly on SIGTERM and exits within the grace period', async () => {
    const { stack } = await stackFor('sse_sigterm', { SHUTDOWN_GRACE_MS: '5000' });
    const screens = watchers(stack.url, 200);
    await expect.poll(() => behind(screens, (s) => s.latest), { message: 'screens not connected', timeout: 15_000 }).toBe(0);
    const t0 = Date.now();
    const code = await stack.server.stop('SIGTERM');
    const exitMs = Date.now() - t0;
    expect(code).toBe(0);
    expect(exitMs).toBeLessThan(5000);
    await expect.poll(() => behind(screens, (s) => s.errors > 0), { message: 'streams not ended', timeout: 5000 }).toBe(0);
  });
});

afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
