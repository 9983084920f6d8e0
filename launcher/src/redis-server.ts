import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';

export interface RedisServerOptions {
  dir: string;
  port: number;
  /** AOF with fsync on every write: an acknowledged vote survives a Redis crash. */
  appendfsync?: 'always' | 'everysec' | 'no';
  persistence?: boolean;
  /** Extra config lines, e.g. ACL users. */
  extraArgs?: string[];
}

/** True when a `redis-server` binary is on PATH. */
export function redisServerAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A private redis-server child process (the local default and the fault tests). */
export class RedisServer {
  readonly options: RedisServerOptions;
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(options: RedisServerOptions) {
    this.options = options;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.options.port}`;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    mkdirSync(this.options.dir, { recursive: true });
    const persist = this.options.persistence ?? true;
    const args = [
      '--port', String(this.options.port),
      '--bind', '127.0.0.1',
      '--dir', this.options.dir,
      '--save', '',
      '--appendonly', persist ? 'yes' : 'no',
      '--appendfsync', this.options.appendfsync ?? 'always',
      '--daemonize', 'no',
      '--loglevel', 'warning',
      ...(this.options.extraArgs ?? []),
    ];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    proc.stdout?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    proc.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.once('exit', () => {
      if (this.proc === proc) this.proc = null;
    });
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(this.options.port))) {
      if (!this.proc) throw new Error(`redis-server exited at start:\n${log}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${this.options.port}:\n${log}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGKILL: a crash, with whatever AOF already holds. */
  async kill(): Promise<void> {
    this.proc?.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    this.proc?.kill('SIGTERM');
    await this.exited;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
