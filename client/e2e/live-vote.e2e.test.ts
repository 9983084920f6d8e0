/**
 * End to end: the real stack (Express server with this client mounted, consumer, PostgreSQL,
 * Redis) driven by headless Debian Chromium through playwright-core.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BrowserContextOptions, Page } from 'playwright-core';
import { ROUTES } from '@livevote/contract/constants';
import { RedisServer, ServiceProcess, createTestEnv, freePort, startStack, type Stack, castVote } from '@livevote/harness';
import {
  BUILD_DIR,
  REPO_ROOT,
  RESULTS_DIR,
  axeScan,
  screenshot,
  testIdText,
  toNumber,
  waitForAttr,
  startE2eRig,
  waitForNumberAtLeast,
  type E2eRig,
} from './harness.ts';

const PHONE = { width: 360, height: 800 };
const PROJECTOR = { width: 1920, height: 1080 };
const OLD_PROJECTOR = { width: 1024, height: 768 };
const BUDGET_GZIP_BYTES = 60 * 1024;

let rig: E2eRig;
let stack: Stack;

interface Results {
  cats: number;
  dogs: number;
  total: number;
  seq: number;
}

/** How long a wait on the API may take (counting goes through the consumer and PostgreSQL). */
const API_WAIT = { timeout: 15_000, interval: 50 };

/**
 * `GET /api/results` once. The server caches it for RESULTS_CACHE_MS (250 ms), so a read right
 * after a vote may not show it yet: wait for what you expect (expect.poll / vi.waitFor), or use
 * `voteViaApi`, whose answer is known to include its votes.
 */
async function results(base = stack.url): Promise<Results> {
  const res = await fetch(`${base}${ROUTES.results}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Results;
}

/** The tally seq that counted this vote, once GET /api/vote/:id says it is counted. */
async function countedSeq(base: string, id: string): Promise<number> {
  return vi.waitFor(async () => {
    const res = await fetch(`${base}${ROUTES.voteStatus.replace(':id', encodeURIComponent(id))}`);
    const body = (await res.json()) as { counted?: boolean; seq?: number };
    expect(body.counted, `vote ${id} counted`).toBe(true);
    return body.seq!;
  }, API_WAIT);
}

/**
 * Casts votes through the API (as another voter would), waits until each one is counted, then
 * until /api/results has caught up with the tally that counted the last of them: the totals it
 * answers include these votes, whatever the results cache held when it started.
 */
async function voteViaApi(option: 'cats' | 'dogs', n: number): Promise<Results> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const cast = await castVote(stack.url, option);
    expect(cast.status).toBe(202);
    ids.push(cast.id!);
  }
  let seq = 0;
  for (const id of ids) seq = Math.max(seq, await countedSeq(stack.url, id));
  return vi.waitFor(async () => {
    const r = await results();
    expect(r.seq, `results caught up with the tally that counted ${n} ${option} votes`).toBeGreaterThanOrEqual(seq);
    return r;
  }, API_WAIT);
}

/**
 * Waits until the page (live stream) and /api/results (cached) show the same number in `testId`
 * and `field`, and answers those results: a baseline both agree on before a test changes anything.
 */
async function settledResults(page: Page, testId: string, field: 'cats' | 'total'): Promise<Results> {
  return vi.waitFor(async () => {
    const r = await results();
    expect(toNumber(await testIdText(page, testId)), `${testId} on the page and ${field} in /api/results`).toBe(r[field]);
    return r;
  }, API_WAIT);
}

/** A page that records console errors (CSP violations show up there) and every request. */
async function openPage(route: string, contextOptions: BrowserContextOptions = {}): Promise<{ page: Page; errors: string[]; requests: string[] }> {
  const context = await rig.newContext({ viewport: PHONE, ...contextOptions });
  const page = await context.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`${stack.url}${route}`, { waitUntil: 'load' });
  return { page, errors, requests };
}

beforeAll(async () => {
  rig = await startE2eRig('client-e2e');
  stack = rig.stack;
});
afterAll(() => rig?.stop());

describe('voter page', () => {
  it('paints the current totals from the server, before any JavaScript runs', async () => {
    const r = await voteViaApi('dogs', 3);
    const { page } = await openPage('/', { javaScriptEnabled: false });
    expect(toNumber(await testIdText(page, 'total'))).toBe(r.total);
    expect(toNumber(await testIdText(page, 'count-dogs'))).toBe(r.dogs);
  });

  it('tap Cats: the count rises, "sent" then "counted ✓", one vote with one Idempotency-Key', async () => {
    const { page, errors } = await openPage('/');
    await waitForAttr(page, 'connection', 'data-state', 'live');
    const before = await settledResults(page, 'count-cats', 'cats');

    const posted = page.waitForRequest((r) => r.url().endsWith('/api/vote') && r.method() === 'POST');
    await page.getByRole('button', { name: 'Vote for Cats' }).click();
    const req = await posted;
    const headers = await req.allHeaders();
    expect(headers['idempotency-key']).toMatch(/^[A-Za-z0-9_.:-]{8,128}$/);
    expect(headers.origin).toBe(stack.url); // the Referrer-Policy keeps a real Origin
    expect((await req.response())?.status()).toBe(202);

    await waitForNumberAtLeast(page, 'count-cats', before.cats + 1);
    await waitForAttr(page, 'vote-status', 'data-phase', 'counted');
    expect(await testIdText(page, 'vote-status')).toContain('counted ✓');
    // "counted ✓" comes from GET /api/vote/:id; /api/results may still answer from its cache.
    const after = await vi.waitFor(async () => {
      const r = await results();
      expect(r.cats).toBe(before.cats + 1);
      return r;
    }, API_WAIT);
    await expect.poll(async () => toNumber(await testIdText(page, 'total')), API_WAIT).toBe(after.total);
    expect(errors).toEqual([]);
  });

  it('keeps a screen-reader summary of the tally', async () => {
    const { page } = await openPage('/');
    const r = await settledResults(page, 'total', 'total');
    await expect.poll(() => testIdText(page, 'summary'), API_WAIT).toMatch(new RegExp(`, ${r.total.toLocaleString('en-US')} votes?$`));
    const summary = await testIdText(page, 'summary');
    expect(summary).toMatch(/^Cats \d+\u00a0%, Dogs \d+\u00a0%, [\d,]+ votes?$/);
  });
});

describe('motion', () => {
  it('bars jump straight to the new length under prefers-reduced-motion', async () => {
    const { page } = await openPage('/', { reducedMotion: 'reduce' });
    await waitForAttr(page, 'connection', 'data-state', 'live');
    const r = await voteViaApi('dogs', 3);
    await waitForNumberAtLeast(page, 'total', r.total);
    // Read in the same frame the new total is on screen: no tween may be under way.
    const width = await page.evaluate(() => Number(document.querySelector('.row.dogs rect.fill')?.getAttribute('width')));
    expect(width).toBeCloseTo((r.dogs * 100) / r.total, 5);
  });

  it('bars glide when motion is welcome', async () => {
    const { page } = await openPage('/', { reducedMotion: 'no-preference' });
    await waitForAttr(page, 'connection', 'data-state', 'live');
    // Record the Cats bar's length on every frame while votes arrive.
    await page.evaluate(() => {
      const w = window as unknown as { __widths: number[] };
      w.__widths = [];
      const tick = () => {
        w.__widths.push(Number(document.querySelector('.row.cats rect.fill')?.getAttribute('width')));
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const r = await voteViaApi('cats', 10);
    const to = (r.cats * 100) / r.total;
    await page.waitForFunction((t) => Math.abs(Number(document.querySelector('.row.cats rect.fill')?.getAttribute('width')) - t) < 1e-6, to);
    const widths = await page.evaluate(() => (window as unknown as { __widths: number[] }).__widths);
    const from = widths[0]!; // the length on screen before the votes, whatever the page started from
    const between = widths.filter((x) => x > Math.min(from, to) + 0.01 && x < Math.max(from, to) - 0.01);
    expect(Math.abs(to - from)).toBeGreaterThan(1);
    expect(between.length).toBeGreaterThan(2); // several in-between frames: it moved, it did not jump
  });
});

describe('presenter screen', () => {
  it('moves without a reload when votes arrive through the API', async () => {
    const { page, errors } = await openPage('/present', { viewport: PROJECTOR });
    await waitForAttr(page, 'presenter', 'data-stream', 'open');
    const start = (await settledResults(page, 'present-total', 'total')).total;
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));

    const r = await voteViaApi('cats', 5);
    expect(r.total).toBe(start + 5);
    await waitForNumberAtLeast(page, 'present-total', r.total);
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="rate"]')?.textContent) > 0);
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    expect(navigations).toEqual([]);
    expect(toNumber(await testIdText(page, 'count-cats'))).toBe(r.cats);
    expect(await testIdText(page, 'short-url')).toBe(new URL(stack.url).host);
    expect(await page.locator('.qr svg path').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  });

  it('f toggles full screen; the cursor hides when idle and comes back on movement', async () => {
    const { page } = await openPage('/present', { viewport: PROJECTOR });
    await waitForAttr(page, 'presenter', 'data-stream', 'open'); // hydrated and connected
    await page.keyboard.press('f');
    await page.waitForFunction(() => document.fullscreenElement !== null);
    await page.keyboard.press('f');
    await page.waitForFunction(() => document.fullscreenElement === null);
    await page.mouse.move(200, 200);
    await page.waitForFunction(() => getComputedStyle(document.querySelector('main')!).cursor === 'none', undefined, { timeout: 10_000 });
    await page.mouse.move(300, 300);
    await page.waitForFunction(() => getComputedStyle(document.querySelector('main')!).cursor !== 'none', undefined, { timeout: 2_000 });
    expect(await page.getByRole('button').count()).toBe(0); // no buttons on the presenter
  });
});

describe('when the server goes away', () => {
  it('shows reconnecting (and stale on the presenter), then live again with the right totals', async () => {
    const voter = await openPage('/');
    const presenter = await openPage('/present', { viewport: PROJECTOR });
    await waitForAttr(voter.page, 'connection', 'data-state', 'live');
    await waitForAttr(presenter.page, 'presenter', 'data-stream', 'open');

    await stack.server.stop();
    await waitForAttr(voter.page, 'connection', 'data-state', 'reconnecting');
    await waitForAttr(presenter.page, 'freshness', 'data-state', 'stale', 15_000);
    await screenshot(voter.page, 'voter-reconnecting-phone');
    await screenshot(presenter.page, 'presenter-stale-1920x1080');

    await stack.server.start();
    const r = await voteViaApi('dogs', 2);
    await waitForAttr(voter.page, 'connection', 'data-state', 'live', 30_000);
    await waitForAttr(presenter.page, 'freshness', 'data-state', 'live', 30_000);
    await waitForNumberAtLeast(voter.page, 'total', r.total, 30_000);
    await waitForNumberAtLeast(presenter.page, 'present-total', r.total, 30_000);
    expect(toNumber(await testIdText(voter.page, 'count-dogs'))).toBe(r.dogs);
    expect(toNumber(await testIdText(voter.page, 'count-cats'))).toBe(r.cats);
    expect(toNumber(await testIdText(presenter.page, 'present-total'))).toBe(r.total);
  });
});

describe('when votes come too fast', () => {
  it('a 429 shows a friendly countdown and the buttons wait', async () => {
    // A second stack whose vote limit is 2 a minute, so the third tap is refused.
    const env2 = await createTestEnv('client-e2e-429');
    const limited = await startStack({ ...env2, clientDir: BUILD_DIR, port: 0, serverEnv: { RATE_LIMIT_VOTES_PER_MIN: '2', SHUTDOWN_GRACE_MS: '500' } });
    try {
      const context = await rig.newContext({ viewport: PHONE });
      const page = await context.newPage();
      await page.goto(`${limited.url}/`);
      await waitForAttr(page, 'connection', 'data-state', 'live');
      const dogs = page.getByRole('button', { name: 'Vote for Dogs' });
      for (let i = 0; i < 2; i++) {
        await dogs.click();
        await page.waitForSelector('[data-testid="vote-status"][data-phase="sent"], [data-testid="vote-status"][data-phase="counted"]');
      }
      const refused = page.waitForResponse((r) => r.url().endsWith('/api/vote') && r.status() === 429);
      await dogs.click();
      await refused;
      await waitForAttr(page, 'vote-status', 'data-phase', 'rate-limited');
      const first = await testIdText(page, 'vote-status');
      expect(first).toMatch(/You can vote again in \d+ s\./);
      expect(await dogs.getAttribute('aria-disabled')).toBe('true');
      await screenshot(page, 'voter-rate-limited-phone');
      // The countdown counts down.
      const n = toNumber(first);
      await page.waitForFunction((m) => {
        const t = document.querySelector('[data-testid="vote-status"]')?.textContent ?? '';
        const k = Number(t.replace(/[^\d]/g, ''));
        return t.includes('vote again') && k < m;
      }, n, { timeout: 5_000 });
    } finally {
      await limited.stop();
      await env2.cleanup();
    }
  });
});

describe('when Redis is down', () => {
  it('a tap answered 503 is retried by itself with the same Idempotency-Key and counted once', async () => {
    // A private Redis this test may kill, and a stack of its own on it.
    const dir = mkdtempSync(path.join(tmpdir(), 'lv-client-redis-'));
    const redis = new RedisServer({ dir, port: await freePort(), appendfsync: 'always' });
    await redis.start();
    const env3 = await createTestEnv('client-e2e-503', `${redis.url}/0`);
    const own = await startStack({ ...env3, clientDir: BUILD_DIR, port: 0, serverEnv: { SHUTDOWN_GRACE_MS: '500' } });
    try {
      const context = await rig.newContext({ viewport: PHONE });
      const page = await context.newPage();
      const posts: { key: string; status: number }[] = [];
      page.on('response', async (res) => {
        if (res.url().endsWith('/api/vote') && res.request().method() === 'POST') {
          posts.push({ key: (await res.request().allHeaders())['idempotency-key'] ?? '', status: res.status() });
        }
      });
      await page.goto(`${own.url}/`);
      await waitForAttr(page, 'connection', 'data-state', 'live');

      await redis.kill();
      await page.getByRole('button', { name: 'Vote for Cats' }).click();
      await waitForAttr(page, 'vote-status', 'data-phase', 'retrying');
      expect(await testIdText(page, 'vote-status')).toContain('still sending');
      await screenshot(page, 'voter-retrying-phone');

      await redis.start();
      await waitForAttr(page, 'vote-status', 'data-phase', 'counted', 60_000);
      // Each response is recorded after an await in its listener: wait for the 202 to be in.
      await expect.poll(() => posts.at(-1)?.status, API_WAIT).toBe(202);
      expect(posts.length).toBeGreaterThanOrEqual(2);
      expect(posts[0]!.status).toBe(503);
      expect(new Set(posts.map((p) => p.key)).size).toBe(1);
      // /api/results is cached for a moment (RESULTS_CACHE_MS), so wait for it to show the vote.
      const r = await vi.waitFor(async () => {
        const t = await results(own.url);
        expect(t.total, 'results showing the vote').toBeGreaterThan(0);
        return t;
      }, API_WAIT);
      expect(r).toMatchObject({ cats: 1, dogs: 0, total: 1 });
      await waitForNumberAtLeast(page, 'count-cats', 1);
    } finally {
      await own.stop();
      await env3.cleanup();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the client as its own workload (Kubernetes)', () => {
  it('node build/index.js answers /healthz and renders totals read from API_URL, QR from PUBLIC_URL', async () => {
    const port = await freePort();
    const client = new ServiceProcess({
      name: 'client',
      entry: path.join(BUILD_DIR, 'index.js'),
      env: { PORT: String(port), HOST: '127.0.0.1', API_URL: stack.url, PUBLIC_URL: 'https://vote.example.org/hall-b/' },
      readyUrl: `http://127.0.0.1:${port}/healthz`,
    });
    await client.start();
    try {
      const base = `http://127.0.0.1:${port}`;
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const r = await results();
      const { page } = await openPage('/', { javaScriptEnabled: false });
      await page.goto(`${base}/`);
      expect(toNumber(await testIdText(page, 'total'))).toBe(r.total);
      await page.goto(`${base}/present`, { waitUntil: 'load' });
      expect(await testIdText(page, 'short-url')).toBe('vote.example.org/hall-b');
      expect(toNumber(await testIdText(page, 'present-total'))).toBe(r.total);
    } finally {
      await client.stop();
    }
  });
});

describe('accessibility, screenshots and budget', () => {
  for (const colorScheme of ['light', 'dark'] as const) {
    it(`axe finds no serious or critical violation on either page (${colorScheme})`, async () => {
      for (const [route, viewport] of [['/', PHONE], ['/present', PROJECTOR]] as const) {
        const { page } = await openPage(route, { viewport, colorScheme, reducedMotion: 'reduce' });
        await page.waitForSelector('[data-testid="connection"][data-state="live"], [data-testid="presenter"][data-stream="open"]');
        const bad = (await axeScan(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
        expect(bad, `${route} (${colorScheme})`).toEqual([]);
      }
    });
  }

  it('writes screenshots of both pages at phone and projector sizes', async () => {
    await voteViaApi('cats', 4);
    const shots: string[] = [];
    for (const colorScheme of ['light', 'dark'] as const) {
      for (const [name, route] of [['voter', '/'], ['presenter', '/present']] as const) {
        const { page, errors } = await openPage(route, { colorScheme, reducedMotion: 'reduce' });
        await page.waitForSelector('[data-testid="connection"][data-state="live"], [data-testid="presenter"][data-stream="open"]');
        for (const [size, viewport] of [['phone-360x800', PHONE], ['projector-1920x1080', PROJECTOR], ['projector-1024x768', OLD_PROJECTOR]] as const) {
          await page.setViewportSize(viewport);
          await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
          shots.push(await screenshot(page, `${name}-${size}-${colorScheme}`));
        }
        expect(errors).toEqual([]);
      }
    }
    expect(shots).toHaveLength(12);
  });

  it('voter page JavaScript stays under 60 KB gzip and nothing comes from another origin', async () => {
    const context = await rig.newContext({ viewport: PHONE });
    const page = await context.newPage();
    const scripts = new Map<string, number>();
    const origins = new Set<string>();
    page.on('request', (r) => origins.add(new URL(r.url()).origin));
    page.on('response', async (res) => {
      const type = res.request().resourceType();
      if (type === 'script' || res.url().endsWith('.js')) {
        const body = await res.body();
        scripts.set(res.url(), gzipSync(body, { level: 9 }).length);
      }
    });
    await page.goto(`${stack.url}/`, { waitUntil: 'networkidle' }).catch(async () => {
      // An open EventSource can keep the network busy; "load" plus the live state is enough then.
      await page.goto(`${stack.url}/`, { waitUntil: 'load' });
    });
    await waitForAttr(page, 'connection', 'data-state', 'live');
    const total = [...scripts.values()].reduce((a, b) => a + b, 0);
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(path.join(RESULTS_DIR, 'page-weight.json'), JSON.stringify({ gzipBytes: total, files: Object.fromEntries(scripts) }, null, 2));
    console.log(`voter page JavaScript: ${scripts.size} files, ${(total / 1024).toFixed(1)} KB gzip`);
    expect(scripts.size).toBeGreaterThan(0);
    expect(total).toBeLessThan(BUDGET_GZIP_BYTES);
    expect([...origins].filter((o) => o !== stack.url)).toEqual([]);
  });

  it('sends a strict CSP, a same-origin-keeping Referrer-Policy, and answers /healthz', async () => {
    const res = await fetch(`${stack.url}/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toMatch(/script-src 'self' 'nonce-[^']+'/);
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin');
    const health = await fetch(`${stack.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
