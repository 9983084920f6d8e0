import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, RedisServer } from '@livevote/launcher';

type PrivateRedisOptions = Omit<ConstructorParameters<typeof RedisServer>[0], 'dir' | 'port'> & {
  /** A `maxmemory` in bytes with `noeviction`, as the chart runs Redis: writes refused beyond it. */
  maxmemory?: number;
};
export type PrivateRedis = RedisServer & { dispose(): Promise<void> };

/**
 * A redis-server of the test's own on a free port, with its data in a temporary folder: for
 * tests that kill, pause or reconfigure Redis, which they must never do to the shared one.
 * `dispose()` stops it and removes the folder.
 */
export async function startPrivateRedis(name: string, { maxmemory, ...options }: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const dir = mkdtempSync(path.join(tmpdir(), `lv-${name}-`));
  const extraArgs = [...(maxmemory === undefined ? [] : ['--maxmemory', String(maxmemory), '--maxmemory-policy', 'noeviction']), ...(options.extraArgs ?? [])];
  const server = new RedisServer({ ...options, extraArgs, dir, port: await freePort() });
  await server.start();
  return Object.assign(server, {
    async dispose() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}
