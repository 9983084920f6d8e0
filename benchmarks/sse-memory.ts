/**
 * Not a test: measures the server's RSS per idle SSE watcher, the "per-client cost" of the
 * memory bound (clients × SSE_MAX_QUEUED_BYTES + clients × this). Run from the repo root:
 *   node benchmarks/sse-memory.ts [watchers=1000]   (through npm: npx node …)
 */
import http from 'node:http';
import { createTestEnv, startStack } from '@livevote/harness';

const N = Number(process.argv[2] ?? 1000);
const env = await createTestEnv('measure_sse_memory');
const stack = await startStack({ ...env, env: { RATE_LIMIT: 'off' }, serverEnv: { SSE_MAX_PER_IP: '100000', SSE_MAX_CLIENTS: '100000' } });
const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${stack.opsUrl}/metrics`)).text())![1]);
const open: http.ClientRequest[] = [];
const watch = (i: number) =>
  new Promise<void>((resolve, reject) => {
    const req = http.get(`${stack.url}/api/stream`, { agent: false, localAddress: `127.0.0.${2 + (i % 50)}` }, (res) => {
      res.resume();
      resolve();
    });
    req.on('error', reject);
    open.push(req);
  });
const settle = async (clients: number) => {
  while ((await metric('livevote_sse_clients')) < clients) await new Promise((r) => setTimeout(r, 100));
  if (global.gc) global.gc();
  // Several scrapes: RSS after the ramp settles.
  let rss = 0;
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 400));
    rss = await metric('livevote_server_process_resident_memory_bytes');
  }
  return rss;
};
try {
  for (let i = 0; i < 20; i++) await watch(i);
  const base = await settle(20);
  for (let i = 20; i < N + 20; i += 50) await Promise.all(Array.from({ length: Math.min(50, N + 20 - i) }, (_, k) => watch(i + k)));
  const full = await settle(N + 20);
  const per = (full - base) / N;
  console.log(`server RSS: ${(base / 2 ** 20).toFixed(1)} MiB with 20 watchers, ${(full / 2 ** 20).toFixed(1)} MiB with ${N + 20}: ${(per / 1024).toFixed(1)} KiB per idle watcher`);
} finally {
  open.forEach((r) => r.destroy());
  await stack.stop();
  await env.cleanup();
}
