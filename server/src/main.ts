/**
 * The server's entry point. With WEB_CONCURRENCY 1 (the default) this process is the server
 * (server-process.ts); above 1 it is a node:cluster primary (cluster-primary.ts) running that many
 * server processes on the one public port and serving the ops port for all of them.
 */
import cluster from 'node:cluster';
import { ConfigError } from '@livevote/service-kit';
import { loadConfig } from './config.ts';

// A bad configuration ends the process with code 2 and the message alone, no stack.
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`server: ${err.message}`);
  process.exit(2);
}

if (cluster.isPrimary && config.WEB_CONCURRENCY > 1) await (await import('./cluster-primary.ts')).runPrimary(config);
else await (await import('./server-process.ts')).runServerProcess(config);
