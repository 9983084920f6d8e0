import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, RedisServer } from '@livevote/launcher';

type PrivateRedisOptions = Omit<ConstructorParameters<typeof RedisServer>[0], 'dir' | 'port'>;
export type PrivateRedis = RedisServer & { dispose(): Promise<void> };

/**
 * A redis-server of the test's own on a free port, with its data in a temporary folder: for
 * tests that kill, pause or reconfigure Redis, which they must never do to the shared one.
 * `dispose()` stops it and removes the folder.
 */
export async function startPrivateRedis(name: string, options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const dir = mkdtempSync(path.join(tmpdir(), `lv-${name}-`));
  const server = new RedisServer({ ...options, dir, port: await freePort() });
  await server.start();
  return Object.assign(server, {
    async dispose() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}
