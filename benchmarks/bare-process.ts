import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Starts one of the benchmark's bare yardsticks (`bare-server.ts`, `bare-sse-server.ts`) as its own
 * process; each prints the port it listens on. Resolves with its URL, PID and a stop().
 */
export async function startBareProcess(file: 'bare-server.ts' | 'bare-sse-server.ts'): Promise<{ url: string; pid: number; stop: () => void }> {
  const proc = spawn(process.execPath, [fileURLToPath(new URL(`./${file}`, import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    proc.once('exit', () => reject(new Error(`${file} exited`)));
  });
  return { url: `http://127.0.0.1:${port}`, pid: proc.pid!, stop: () => proc.kill('SIGTERM') };
}
