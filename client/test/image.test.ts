/**
 * The client image (client/Dockerfile), checked without a container runtime: the Dockerfile is
 * read (pins, user, entrypoint, npm ci, build context), then the image's /app is assembled (its
 * production dependencies + the SvelteKit build) and served with Node 24. It must hold none of
 * the services' Node-only dependencies. The checks themselves are @livevote/harness's `images`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, images } from '@livevote/harness';

const df = images.readDockerfile('client');
const removals: (() => void)[] = [];
afterAll(() => removals.forEach((r) => r()));

/** The build output the runtime stage copies, built here when CI has not built it already. */
function ensureBuilt(): void {
  if (images.buildOutputPaths(df).every((p) => existsSync(join(images.repoRoot, p)))) return;
  const b = images.runSync('npm', ['run', 'build', '--workspace', 'client'], { timeoutMs: 240_000 });
  expect(b.status, b.stdout + b.stderr).toBe(0);
}

describe('client/Dockerfile', () => {
  for (const check of images.staticImageChecks(df)) it(check.name, () => expect(check.problems()).toEqual([]));

  it('copies build output that exists after the client\'s build, and its CMD entry file', { timeout: 300_000 }, () => {
    ensureBuilt();
    for (const p of images.buildOutputPaths(df)) expect(existsSync(join(images.repoRoot, p)), `${p} missing after the build`).toBe(true);
  });

  it('assembles the image\'s /app (production dependencies + the SvelteKit build), without the services\' dependencies, and it serves /healthz', { timeout: 300_000 }, async () => {
    ensureBuilt();
    const image = images.assembleImage(df);
    removals.push(image.remove);
    expect(images.devDependencyProblems(image.app)).toEqual([]);
    const deps = images.productionPackages(image.app, 'client');
    expect(deps.status, deps.stderr).toBe(0);
    expect(deps.names).toContain('@livevote/contract');
    // The services' Node-only dependencies stay out: neither in npm's tree nor on disk.
    for (const nodeOnly of ['ioredis', 'pg', 'pino', '@livevote/service-kit']) {
      expect(deps.names, `${nodeOnly} in the client's production tree`).not.toContain(nodeOnly);
      expect(existsSync(join(image.app, 'node_modules', nodeOnly, 'package.json')), `${nodeOnly} in the client image`).toBe(false);
    }

    const port = await freePort();
    const child = spawn(images.nodeBin, images.execForm(df, 'CMD')!, {
      cwd: image.app,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', ORIGIN: 'http://localhost:8080', PUBLIC_URL: 'http://localhost:8080', API_URL: 'http://127.0.0.1:9' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const onData = (d: Buffer) => {
          out += d;
          if (/Listening on/i.test(out)) resolve();
        };
        child.stdout!.on('data', onData);
        child.stderr!.on('data', onData);
        void exited.then((code) => reject(new Error(`client exited (${code}) before listening:\n${out}`)));
      });
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(res.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    expect(out).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
  });
});
