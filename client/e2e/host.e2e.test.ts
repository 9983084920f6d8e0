/**
 * End to end, the host's flow: /host signs in from the link's fragment and drives rounds, voting
 * and the reveal; a presenter and a voter page follow live, in headless Debian Chromium.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Page } from 'playwright-core';
import { castMany, publicResults, type Stack } from '@livevote/harness';
import { axeScan, screenshot, startE2eRig, testIdText, toNumber, waitForAttr, type E2eRig } from './harness.ts';

let rig: E2eRig;
let stack: Stack;

beforeAll(async () => {
  rig = await startE2eRig('host-e2e', { RATE_LIMIT: 'off' });
  stack = rig.stack;
});
afterAll(() => rig?.stop());

async function open(route: string, options: { width?: number; height?: number; colorScheme?: 'light' | 'dark' } = {}): Promise<{ page: Page; errors: string[] }> {
  const context = await rig.newContext({ viewport: { width: options.width ?? 1024, height: options.height ?? 768 }, colorScheme: options.colorScheme ?? 'light' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(`${stack.url}${route}`, { waitUntil: 'load' });
  return { page, errors };
}

const serious = async (page: Page) => (await axeScan(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');

describe('the host', () => {
  let host: Page;
  let presenter: Page;
  let voter: Page;

  it('shows a token form without a session, and axe finds nothing serious on it', async () => {
    const { page } = await open('/host');
    await waitForAttr(page, 'host', 'data-view', 'signed-out');
    expect(await page.getByLabel('Host token').getAttribute('type')).toBe('password');
    expect(await serious(page)).toEqual([]);
    // A wrong token is refused with a message, and nothing opens.
    await page.getByLabel('Host token').fill('not-the-right-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await vi.waitFor(async () => expect(await testIdText(page, 'host-error')).toMatch(/not right/), { timeout: 10_000 });
    expect(await page.getAttribute('[data-testid="host"]', 'data-view')).toBe('signed-out');
  });

  it('signs in from the link, takes the token out of the address bar, and axe finds nothing serious', async () => {
    ({ page: host } = await open(`/host#token=${encodeURIComponent(stack.hostToken)}`));
    await waitForAttr(host, 'host', 'data-view', 'ready');
    expect(host.url()).toBe(`${stack.url}/host`);
    expect(await host.evaluate(() => location.href + history.length)).not.toContain(stack.hostToken);
    // The session is a cookie the page's script cannot read.
    expect(await host.evaluate(() => document.cookie)).toBe('');
    expect(await serious(host)).toEqual([]);
    await screenshot(host, 'host-1024x768-light');
  });

  it('starts a round (after a confirmation); the presenter and a voter follow without a reload', async () => {
    ({ page: presenter } = await open('/present', { width: 1920, height: 1080, colorScheme: 'dark' }));
    ({ page: voter } = await open('/', { width: 360, height: 800 }));
    const before = toNumber(await testIdText(host, 'host-round'));
    await host.getByTestId('host-new-round').click();
    await expect.poll(() => host.getByTestId('host-confirm').isVisible()).toBe(true);
    await host.getByTestId('host-confirm-yes').click();
    await vi.waitFor(async () => expect(toNumber(await testIdText(host, 'host-round'))).toBe(before + 1), { timeout: 10_000 });
    await vi.waitFor(async () => expect(await testIdText(presenter, 'present-round')).toBe(`Round ${before + 1}`), { timeout: 10_000 });
    await vi.waitFor(async () => expect(await testIdText(voter, 'round')).toBe(`Round ${before + 1}`), { timeout: 10_000 });
    expect(toNumber(await testIdText(presenter, 'present-total'))).toBe(0);
  });

  it('closing voting disables the voter\'s buttons and shows "voting closed"; opening brings them back', async () => {
    await host.getByTestId('host-close').click();
    await vi.waitFor(async () => expect(await voter.getByTestId('vote-cats').isDisabled()).toBe(true), { timeout: 10_000 });
    expect(await voter.getByTestId('vote-dogs').isDisabled()).toBe(true);
    expect(await testIdText(voter, 'voting-closed')).toBe('Voting is closed.');
    await vi.waitFor(async () => expect(await presenter.getByTestId('present-closed').isVisible()).toBe(true), { timeout: 10_000 });
    await screenshot(voter, 'voter-closed-360x800-light');
    await host.getByTestId('host-open').click();
    await vi.waitFor(async () => expect(await voter.getByTestId('vote-cats').isDisabled()).toBe(false), { timeout: 10_000 });
  });

  it('hide: no number on any public page while the host sees them; reveal: they appear', async () => {
    await host.getByTestId('host-hide').click();
    await vi.waitFor(async () => expect(await presenter.getByTestId('present-hidden').isVisible()).toBe(true), { timeout: 10_000 });
    await vi.waitFor(async () => expect(await voter.getByTestId('results-hidden').isVisible()).toBe(true), { timeout: 10_000 });
    // Votes arrive while hidden: the host's count moves, nobody else's.
    const cast = await castMany(stack.url, 7, 7, (i) => (i < 5 ? 'cats' : 'dogs'));
    expect(cast.every((c) => c.status === 202)).toBe(true);
    await vi.waitFor(async () => expect(toNumber(await testIdText(host, 'host-total'))).toBe(7), { timeout: 10_000 });
    expect(await publicResults(stack.url)).toMatchObject({ results: 'hidden', cats: null, dogs: null, total: null });
    for (const page of [presenter, voter]) {
      const text = (await page.locator('main').innerText()).replace(/Round \d+/g, '');
      expect(text, 'no count or share on a public page while hidden').not.toMatch(/\b[57]\b|%/);
    }
    await screenshot(presenter, 'present-hidden-1920x1080-dark');
    await screenshot(voter, 'voter-hidden-360x800-light');
    await screenshot(host, 'host-hidden-1024x768-light');
    await host.getByTestId('host-reveal').click();
    await vi.waitFor(async () => expect(toNumber(await testIdText(presenter, 'present-total'))).toBe(7), { timeout: 10_000 });
    await vi.waitFor(async () => expect(toNumber(await testIdText(voter, 'count-cats'))).toBe(5), { timeout: 10_000 });
    await screenshot(presenter, 'present-revealed-1920x1080-dark');
  });

  it('shows the round summary on the presenter when voting closes, and counts the screens watching', async () => {
    await host.getByTestId('host-close').click();
    await vi.waitFor(async () => expect(await presenter.getByTestId('round-summary').getAttribute('data-winner')).toBe('cats'), { timeout: 10_000 });
    expect(await testIdText(presenter, 'round-summary')).toMatch(/Cats win!/);
    // The presenter and the voter hold a stream each (the host page polls): at least 2 watching.
    await vi.waitFor(async () => expect(toNumber(await testIdText(presenter, 'watchers'))).toBeGreaterThanOrEqual(2), { timeout: 15_000 });
    await screenshot(presenter, 'present-summary-1920x1080-dark');
    await host.getByTestId('host-open').click();
  });

  it('starts a round hidden and closed from the dialog: the presenter never shows a number, and axe passes on the dialog', async () => {
    const before = toNumber(await testIdText(host, 'host-round'));
    const frames: string[] = [];
    await presenter.exposeFunction('__frame', (f: string) => void frames.push(f));
    await presenter.evaluate(() => {
      const es = new EventSource('/api/stream');
      es.addEventListener('tally', (e) => void (window as unknown as { __frame: (f: string) => void }).__frame((e as MessageEvent<string>).data));
    });
    await host.getByTestId('host-new-round').click();
    await expect.poll(() => host.getByTestId('host-confirm').isVisible()).toBe(true);
    expect(await serious(host)).toEqual([]);
    await host.getByTestId('host-start-hidden').check();
    await host.getByTestId('host-start-closed').check();
    await screenshot(host, 'host-new-round-dialog-1024x768-light');
    await host.getByTestId('host-confirm-yes').click();
    await vi.waitFor(async () => expect(toNumber(await testIdText(host, 'host-round'))).toBe(before + 1), { timeout: 10_000 });
    expect(await testIdText(host, 'host-results')).toBe('Results hidden');
    expect(await testIdText(host, 'host-voting')).toBe('Voting closed');
    await vi.waitFor(async () => expect(await testIdText(presenter, 'present-round')).toBe(`Round ${before + 1}`), { timeout: 10_000 });
    expect(await presenter.getByTestId('present-hidden').isVisible()).toBe(true);
    // Every frame of the new round, the first one included, came without numbers.
    const newRound = frames.map((f) => JSON.parse(f) as { round: number; total: number | null }).filter((f) => f.round === before + 1);
    expect(newRound.length).toBeGreaterThan(0);
    expect(newRound.filter((f) => f.total !== null)).toEqual([]);
    await host.getByTestId('host-open').click();
    await host.getByTestId('host-reveal').click();
    await vi.waitFor(async () => expect(await presenter.getByTestId('present-hidden').isVisible()).toBe(false), { timeout: 10_000 });
  });

  it('a change whose answer is lost is retried with its key: one round, not two', async () => {
    const before = toNumber(await testIdText(host, 'host-round'));
    const keys: string[] = [];
    // The first POST reaches the real server, which starts the round; its answer never reaches the page.
    let lost = false;
    await host.route('**/api/host/rounds', async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      keys.push((await route.request().allHeaders())['idempotency-key'] ?? '');
      if (lost) return route.continue();
      lost = true;
      await route.fetch();
      await route.abort('connectionreset');
    });
    try {
      await host.getByTestId('host-new-round').click();
      await expect.poll(() => host.getByTestId('host-confirm').isVisible()).toBe(true);
      await host.getByTestId('host-confirm-yes').click();
      await vi.waitFor(async () => expect(await testIdText(host, 'host-message')).toBe(`Round ${before + 1} started: voting open, results shown.`), { timeout: 15_000 });
    } finally {
      await host.unroute('**/api/host/rounds');
    }
    expect(keys.length).toBe(2);
    expect(keys[1]).toBe(keys[0]);
    const res = await fetch(`${stack.url}/api/host/rounds`, { headers: { authorization: `Bearer ${stack.hostToken}` } });
    const { rounds } = (await res.json()) as { rounds: { round: number }[] };
    expect(rounds.at(-1)?.round).toBe(before + 1);
    expect(toNumber(await testIdText(host, 'host-round'))).toBe(before + 1);
  });

  it('the host page in dark mode also passes axe', async () => {
    const { page } = await open('/host', { colorScheme: 'dark' });
    await waitForAttr(page, 'host', 'data-view', 'signed-out');
    expect(await serious(page)).toEqual([]);
    await screenshot(page, 'host-signin-1024x768-dark');
  });

  it('"sign out everywhere" (after a confirmation) ends the session on this device and on another one', async () => {
    const { page: other } = await open(`/host#token=${encodeURIComponent(stack.hostToken)}`);
    await waitForAttr(other, 'host', 'data-view', 'ready');
    await host.getByTestId('host-sign-out-everywhere').click();
    await expect.poll(() => host.getByTestId('host-everywhere-confirm').isVisible()).toBe(true);
    expect(await serious(host)).toEqual([]);
    await screenshot(host, 'host-sign-out-everywhere-1024x768-light');
    await host.getByTestId('host-everywhere-yes').click();
    await waitForAttr(host, 'host', 'data-view', 'signed-out');
    // The other device finds out on its next refresh (once a second).
    await waitForAttr(other, 'host', 'data-view', 'signed-out');
    expect(await testIdText(other, 'host-error')).toMatch(/session has ended/);
    // The token signs in again.
    await other.getByLabel('Host token').fill(stack.hostToken);
    await other.getByRole('button', { name: 'Sign in' }).click();
    await waitForAttr(other, 'host', 'data-view', 'ready');
  });
});
