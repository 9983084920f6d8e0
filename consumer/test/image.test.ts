/**
 * The consumer image (consumer/Dockerfile), which also runs the chart's migrations Job, checked
 * without a container runtime: the Dockerfile is read (pins, user, entrypoint, npm ci, build
 * context), then the image's /app is assembled as its build stage does it and both entry points
 * are started with Node 24. The checks themselves are @livevote/harness's `images`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { images } from '@livevote/harness';

const df = images.readDockerfile('consumer');
const removals: (() => void)[] = [];
afterAll(() => removals.forEach((r) => r()));

describe('consumer/Dockerfile', () => {
  for (const check of images.staticImageChecks(df)) it(check.name, () => expect(check.problems()).toEqual([]));

  it('assembles the image\'s /app as its build stage does, and the consumer and the migrations start with Node 24', { timeout: 300_000 }, () => {
    const image = images.assembleImage(df);
    removals.push(image.remove);
    expect(images.devDependencyProblems(image.app)).toEqual([]);
    const deps = images.productionPackages(image.app, 'consumer');
    expect(deps.status, deps.stderr).toBe(0);
    expect(deps.names).toContain('@livevote/service-kit');
    // Only what the runtime stage sets: no REDIS_URL or DATABASE_URL, so both stop at their config check.
    for (const check of [
      { args: images.execForm(df, 'CMD')!, says: /invalid configuration[\s\S]*REDIS_URL/ },
      { args: ['consumer/src/migrate.ts'], says: /DATABASE_URL is not set/ },
    ]) {
      const r = images.runSync(images.nodeBin, check.args, { cwd: image.app, env: { PATH: process.env.PATH, NODE_ENV: 'production' }, timeoutMs: 30_000 });
      expect(r.stderr, 'every module the entry point imports is in the image').not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(check.says);
    }
  });
});
