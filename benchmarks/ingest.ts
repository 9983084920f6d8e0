import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export interface IngestResult {
  label: string;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

export async function drive(label: string, baseUrl: string, seconds: number, connections: number): Promise<IngestResult> {
  const r = await autocannon({
    url: `${baseUrl}/api/vote`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ option: 'cats' }),
    connections,
    duration: seconds,
  });
  return {
    label,
    requestsPerSec: r.requests.average,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}

/** Starts the bare node:http yardstick as its own process; resolves with its URL and a stop(). */
export async function startBareServer(): Promise<{ url: string; stop: () => void }> {
  const entry = fileURLToPath(new URL('./bare-server.ts', import.meta.url));
  const proc = spawn(process.execPath, [entry], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    proc.once('exit', () => reject(new Error('bare server exited')));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => proc.kill('SIGTERM') };
}
