import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { redisKeys } from '@livevote/contract';
import { commitUnannounced, createTestEnv, freePort, RedisServer, startStack, type Stack, type TestEnv, TallyWatcher, castMany } from '@livevote/harness';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function stackFor(name: string, serverEnv: Record<string, string> = {}, urls: { redis?: string; db?: (env: TestEnv) => string } = {}): Promise<{ env: TestEnv; stack: Stack }> {
  const env = await createTestEnv(name, urls.redis);
  cleanups.push(() => env.cleanup());
  const stack = await startStack({ ...env, ...(urls.db ? { databaseUrl: urls.db(env) } : {}), env: { RATE_LIMIT: 'off' }, serverEnv });
  cleanups.push(() => stack.stop());
  return { env, stack };
}

/** One value from the server's Prometheus text (first sample of that name). */
async function metric(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{${labels ? labels.replace(/[{}]/g, '') : '[^}]*'}\\})? (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`no metric ${name}`);
  return Number(m[1]);
}

function streamStatus(url: string, localAddress: string): Promise<{ status: number; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/api/stream`, { localAddress, agent: false }, (res) => {
      if (res.statusCode !== 200) res.resume();
      resolve({ status: res.statusCode ?? 0, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

/** A stream reader that keeps the raw text and when the server ended the stream. */
function rawReader(url: string): { text: () => string; endedAt: () => number | undefined; close: () => void } {
  let text = '';
  let endedAt: number | undefined;
  const req = http.get(`${url}/api/stream`, { agent: false }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (d: string) => (text += d));
    res.on('end', () => (endedAt ??= Date.now()));
    res.on('close', () => (endedAt ??= Date.now()));
  });
  req.on('error', () => (endedAt ??= Date.now()));
  return { text: () => text, endedAt: () => endedAt, close: () => req.destroy() };
}

describe('SSE limits', () => {
  it('allows one stream per connection: pipelined stream requests take no slots and no memory', async () => {
    const { stack } = await stackFor('sse_pipelined', { SSE_MAX_PER_IP: '100' });
    const rss0 = await metric(stack.opsUrl, 'livevote_server_process_resident_memory_bytes');
    const SOCKETS = 5;
    const PIPELINED = 500;
    const closed = new Set<net.Socket>();
    const sockets = Array.from({ length: SOCKETS }, () => {
      const s = net.connect({ host: '127.0.0.1', port: stack.port, localAddress: '127.0.0.5' });
      s.on('error', () => {});
      s.on('close', () => closed.add(s));
      s.pause(); // never reads
      s.write('GET /api/stream HTTP/1.1\r\nHost: livevote\r\n\r\n'.repeat(PIPELINED));
      return s;
    });
    cleanups.push(() => sockets.forEach((s) => s.destroy()));
    // Either the server refused the pipelined connections, or (the bug) they filled the address's slots.
    const refused = () => metric(stack.opsUrl, 'livevote_sse_connections_rejected_total', 'reason="pipelined"').catch(() => 0);
    await expect
      .poll(async () => (await refused()) >= SOCKETS || (await metric(stack.opsUrl, 'livevote_sse_clients')) >= 100, {
        message: 'pipelined requests handled',
        timeout: 20_000,
      })
      .toBe(true);
    const clients = await metric(stack.opsUrl, 'livevote_sse_clients');
    const rss1 = await metric(stack.opsUrl, 'livevote_server_process_resident_memory_bytes');
    console.info(`pipelined: ${SOCKETS}×${PIPELINED} requests → ${clients} hub clients, ${closed.size} sockets closed, RSS +${((rss1 - rss0) / 2 ** 20).toFixed(1)} MiB`);
    expect(clients, 'hub slots held by the pipelining sockets').toBeLessThanOrEqual(SOCKETS);
    const ordinary = await streamStatus(stack.url, '127.0.0.5');
    cleanups.push(() => ordinary.close());
    expect(ordinary.status, 'an ordinary watcher from the same address').toBe(200);
    expect(rss1 - rss0, 'RSS growth (bytes)').toBeLessThan(32 * 2 ** 20);
    // The server closed those connections (seen once the clients read again).
    sockets.forEach((s) => s.resume());
    await expect.poll(() => closed.size, { message: 'pipelining connections closed by the server', timeout: 5000 }).toBe(SOCKETS);
  });

  it('spreads stream closes over the shutdown window, jitters the retry hint and still exits 0 in the grace period', async () => {
    const GRACE = 5000;
    const SPREAD = GRACE / 2; // the server spreads over at most half the grace period
    const { stack } = await stackFor('sse_spread', { SHUTDOWN_GRACE_MS: String(GRACE), SSE_RETRY_MS: '2000' });
    const readers = Array.from({ length: 200 }, () => rawReader(stack.url));
    cleanups.push(() => readers.forEach((r) => r.close()));
    await expect.poll(() => readers.filter((r) => !r.text().includes('event: tally')).length, { message: 'readers without a snapshot', timeout: 15_000 }).toBe(0);
    const t0 = Date.now();
    const code = await stack.server.stop('SIGTERM');
    const exitMs = Date.now() - t0;
    expect(code).toBe(0);
    expect(exitMs).toBeLessThan(GRACE);
    await expect.poll(() => readers.filter((r) => r.endedAt() === undefined).length, { message: 'streams not ended', timeout: 5000 }).toBe(0);
    const ends = readers.map((r) => r.endedAt()! - t0);
    const spread = Math.max(...ends) - Math.min(...ends);
    const hints = readers.map((r) => Number([...r.text().matchAll(/^retry: (\d+)$/gm)].at(-1)?.[1]));
    const distinct = new Set(hints).size;
    console.info(
      `shutdown: 200 streams ended over ${spread} ms (${Math.round((spread / SPREAD) * 100)}% of ${SPREAD} ms), exit after ${exitMs} ms; ` +
        `last retry hints ${Math.min(...hints)}–${Math.max(...hints)} ms, ${distinct} distinct`,
    );
    expect(spread, 'ms between the first and last stream end').toBeGreaterThan(0.8 * SPREAD);
    expect(distinct, 'distinct retry hints').toBeGreaterThan(150);
    for (const h of hints) {
      expect(h).toBeGreaterThanOrEqual(2000);
      expect(h).toBeLessThan(4000);
    }
  });

  it('re-reads the tallies with a new query after a subscription gap, never one started before it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lv-redis-resync-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const redis = new RedisServer({ dir, port: await freePort(), persistence: false });
    await redis.start();
    cleanups.push(() => redis.stop());
    const proxy = await PgProxy.start(5432);
    cleanups.push(() => proxy.close());
    const { env, stack } = await stackFor('sse_resync', { RESULTS_CACHE_MS: '0', ROUND_STATE_CHECK_MS: '600000' }, { redis: `${redis.url}/0`, db: (e) => proxy.rewrite(e.databaseUrl) });
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    cleanups.push(() => admin.disconnect());
    const channel = redisKeys(env.redisPrefix).tallyChannel;

    const screens = Array.from({ length: 10 }, () => new TallyWatcher(stack.url));
    cleanups.push(() => screens.forEach((s) => s.close()));
    await castMany(stack.url, 5, 2);
    await expect.poll(() => screens.filter((s) => s.latest?.total !== 5).length, { message: 'screens not at 5', timeout: 15_000 }).toBe(0);

    // 1. A tally query is in flight (its answer held on the wire) before the gap.
    proxy.hold();
    const queriesBefore = proxy.tallyQueries;
    const inflight = fetch(`${stack.url}/api/results`).then((r) => r.json());
    await expect.poll(() => proxy.tallyQueries, { message: 'the results query reached PostgreSQL', timeout: 5000 }).toBeGreaterThan(queriesBefore);
    // 2. A tally is committed whose PUBLISH the server never sees.
    const newSeq = await commitUnannounced(env.databaseUrl, 7);
    // 3. The subscription drops (only this server's subscriber, by id) and comes back.
    const subscriberIds = async () =>
      (await admin.client('LIST') as string).split('\n').filter((l) => / name=server:sub /.test(l)).map((l) => /id=(\d+)/.exec(l)![1]!);
    const [oldId] = await subscriberIds();
    expect(oldId, 'the server subscriber connection').toBeDefined();
    await admin.client('KILL', 'ID', oldId!);
    await expect
      .poll(async () => {
        const ids = await subscriberIds();
        const [, n] = (await admin.pubsub('NUMSUB', channel)) as [string, number];
        return ids.length === 1 && ids[0] !== oldId && Number(n) === 1;
      }, { message: 'subscriber back and subscribed', timeout: 10_000, interval: 20 })
      .toBe(true);
    // 4. Only now the old query's (stale) answer arrives.
    proxy.release();
    await inflight;
    await expect
      .poll(() => screens.filter((s) => s.latest?.seq !== newSeq).length, { message: `screens not at seq ${newSeq} (no further vote)`, timeout: 10_000 })
      .toBe(0);
    for (const s of screens) expect(s.latest?.total).toBe(12);
  });
});

/** A TCP proxy to PostgreSQL that can hold the answers on the connections open at the time. */
class PgProxy {
  tallyQueries = 0;
  private readonly held = new Map<net.Socket, Buffer[]>();
  private readonly upstreams = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private readonly server: net.Server;
  private readonly target: number;
  private constructor(server: net.Server, target: number) {
    this.server = server;
    this.target = target;
  }

  static async start(target: number): Promise<PgProxy> {
    const server = net.createServer();
    const proxy = new PgProxy(server, target);
    server.on('connection', (c) => proxy.pair(c));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return proxy;
  }

  rewrite(databaseUrl: string): string {
    const u = new URL(databaseUrl);
    u.host = `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
    return u.toString();
  }

  hold(): void {
    for (const { client } of this.upstreams) this.held.set(client, []);
  }

  release(): void {
    for (const [client, chunks] of this.held) for (const c of chunks) client.write(c);
    this.held.clear();
  }

  close(): Promise<void> {
    this.release();
    for (const { client, upstream } of this.upstreams) {
      client.destroy();
      upstream.destroy();
    }
    return new Promise((r) => this.server.close(() => r()));
  }

  private pair(client: net.Socket): void {
    const upstream = net.connect(this.target, '127.0.0.1');
    const p = { client, upstream };
    this.upstreams.add(p);
    client.on('data', (d: Buffer) => {
      if (/FROM current_round/.test(d.toString('latin1'))) this.tallyQueries++;
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      const q = this.held.get(client);
      if (q) q.push(d);
      else client.write(d);
    });
    const end = () => {
      this.upstreams.delete(p);
      this.held.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }
}
