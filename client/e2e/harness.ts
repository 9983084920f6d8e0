/**
 * What the end-to-end tests share: building the client, the real stack (server with the client
 * mounted + consumer, own PostgreSQL database and Redis prefix), headless Debian Chromium, and the
 * git-ignored screenshot folder.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { createTestEnv, startStack, type Stack, type TestEnv } from '@livevote/harness';

export const CLIENT_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const REPO_ROOT = path.resolve(CLIENT_ROOT, '..');
export const RESULTS_DIR = path.join(CLIENT_ROOT, 'test-results');
/** The e2e tests build their own copy here, never over the build/ that `npm start` serves. */
export const BUILD_DIR = path.join(RESULTS_DIR, 'build');
export const SCREENSHOT_DIR = path.join(RESULTS_DIR, 'screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Builds the client into BUILD_DIR with this same Node binary (svelte-kit sync, then vite build). */
export function buildClient(): void {
  const bin = (p: string) => path.join(REPO_ROOT, 'node_modules', p);
  for (const args of [[bin('@sveltejs/kit/svelte-kit.js'), 'sync'], [bin('vite/bin/vite.js'), 'build', '--logLevel', 'warn']]) {
    const r = spawnSync(process.execPath, args, { cwd: CLIENT_ROOT, encoding: 'utf8', env: { ...process.env, NODE_ENV: 'production', CLIENT_OUT_DIR: BUILD_DIR } });
    if (r.status !== 0) throw new Error(`client build failed (${args.slice(1).join(' ')}):\n${r.stdout}\n${r.stderr}`);
  }
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
}

/** A built client served by a real stack, and one browser whose contexts `stop()` closes. */
export interface E2eRig {
  env: TestEnv;
  stack: Stack;
  browser: Browser;
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
  stop(): Promise<void>;
}

export async function startE2eRig(name: string, env: Record<string, string> = {}): Promise<E2eRig> {
  buildClient();
  const testEnv = await createTestEnv(name);
  const stack = await startStack({ ...testEnv, clientDir: BUILD_DIR, port: 0, env, serverEnv: { SHUTDOWN_GRACE_MS: '500', SSE_RETRY_MS: '500' } });
  const browser = await launchBrowser().catch(async (err: unknown) => {
    await stack.stop();
    await testEnv.cleanup();
    throw err;
  });
  const contexts: BrowserContext[] = [];
  return {
    env: testEnv,
    stack,
    browser,
    async newContext(options) {
      const context = await browser.newContext(options);
      contexts.push(context);
      return context;
    },
    async stop() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
      await stack.stop();
      await testEnv.cleanup();
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** Text of a data-testid element, waiting for it to exist. */
export async function testIdText(page: Page, id: string): Promise<string> {
  return (await page.getByTestId(id).textContent({ timeout: 10_000 })) ?? '';
}

export const toNumber = (s: string): number => Number(s.replace(/[^\d.]/g, ''));

/** Waits until a data-testid element's attribute has the wanted value. */
export async function waitForAttr(page: Page, id: string, attr: string, value: string, timeout = 20_000): Promise<void> {
  await page.waitForFunction(
    ([i, a, v]) => document.querySelector(`[data-testid="${i}"]`)?.getAttribute(a!) === v,
    [id, attr, value] as const,
    { timeout },
  );
}

/** Waits until a data-testid element's text, read as a number, satisfies `pred` (given as n >= min). */
export async function waitForNumberAtLeast(page: Page, id: string, min: number, timeout = 20_000): Promise<number> {
  const handle = await page.waitForFunction(
    ([i, m]) => {
      const t = document.querySelector(`[data-testid="${i}"]`)?.textContent ?? '';
      const n = Number(t.replace(/[^\d.]/g, ''));
      return t !== '' && n >= (m as number) ? n : false;
    },
    [id, min] as const,
    { timeout },
  );
  return (await handle.jsonValue()) as number;
}

/** axe-core's violations on the page as it is now. */
export async function axeScan(page: Page): Promise<{ id: string; impact: string | null; help: string; nodes: string[] }[]> {
  const source = readFileSync(path.join(REPO_ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
  // Evaluated through the DevTools protocol, so the page's strict CSP needs no exception for it.
  await page.evaluate(source);
  return page.evaluate(async () => {
    const r = await (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[] }> } }).axe.run(document, {
      resultTypes: ['violations'],
    });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
}
