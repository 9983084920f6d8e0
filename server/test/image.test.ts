/**
 * The server image (server/Dockerfile), checked without a container runtime: the Dockerfile is
 * read (pins, user, entrypoint, npm ci, build context), then the image's /app is assembled as its
 * build stage does it and started with Node 24, to prove it holds every module the entry point
 * imports and no dev dependency. The checks themselves are @livevote/harness's `images`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { images } from '@livevote/harness';

const df = images.readDockerfile('server');
const removals: (() => void)[] = [];
afterAll(() => removals.forEach((r) => r()));

describe('server/Dockerfile', () => {
  for (const check of images.staticImageChecks(df)) it(check.name, () => expect(check.problems()).toEqual([]));

  it('assembles the image\'s /app as its build stage does, and it starts with Node 24', { timeout: 300_000 }, () => {
    const image = images.assembleImage(df);
    removals.push(image.remove);
    expect(images.devDependencyProblems(image.app)).toEqual([]);
    const deps = images.productionPackages(image.app, 'server');
    expect(deps.status, deps.stderr).toBe(0);
    expect(deps.names).toContain('@livevote/service-kit');
    // Only what the runtime stage sets: no REDIS_URL or DATABASE_URL, so it stops at its config check.
    const r = images.runSync(images.nodeBin, images.execForm(df, 'CMD')!, { cwd: image.app, env: { PATH: process.env.PATH, NODE_ENV: 'production' }, timeoutMs: 30_000 });
    expect(r.stderr, 'every module the entry point imports is in the image').not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/invalid configuration[\s\S]*REDIS_URL/);
  });
});
