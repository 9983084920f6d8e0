import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';

export interface RedisServerOptions {
  dir: string;
  port: number;
  /** AOF with fsync on every write: an acknowledged vote survives a Redis crash. */
  appendfsync?: 'always' | 'everysec' | 'no';
  persistence?: boolean;
  /** Extra config lines, e.g. ACL users. */
  extraArgs?: string[];
  /**
   * The whole command line instead of the flags above (a config file, `--sentinel`): the test
   * harness's Cluster and Sentinel nodes, whose config Redis itself rewrites.
   */
  args?: string[];
  /** The log file the config names: `log()` reads it (otherwise what the process printed). */
  logFile?: string;
  /** When the server counts as up (default: it accepts a TCP connection). */
  isUp?: () => Promise<boolean>;
}

/** True when a `redis-server` binary is on PATH. */
export function redisServerAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills `proc` if this Node process exits before it does: no child outlives a crashed caller. */
export function killOnExit(proc: ChildProcess): void {
  liveChildren.add(proc);
  proc.once('exit', () => liveChildren.delete(proc));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of liveChildren) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

const TERMINATING = new Set<NodeJS.Signals>(['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGKILL']);

/**
 * A private redis-server child process (the local default, the fault tests, and every node of the
 * harness's Cluster and Sentinel sets). `start()` after an exit runs the very same command line
 * again, on the same folder and data.
 */
export class RedisServer {
  readonly options: RedisServerOptions;
  readonly host = '127.0.0.1';
  /** PID of the current (or last) process. */
  pid = 0;
  /** Every PID it has had, for "no leftover process" checks. */
  readonly pids: number[] = [];
  /** Set by SIGSTOP, cleared by SIGCONT: pollers skip a paused server instead of hanging on it. */
  paused = false;
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private output = '';

  constructor(options: RedisServerOptions) {
    this.options = options;
  }

  get port(): number {
    return this.options.port;
  }

  get dir(): string {
    return this.options.dir;
  }

  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  /** Running and not paused: safe to send a command to. */
  get reachable(): boolean {
    return this.running && !this.paused;
  }

  /** The end of its log. */
  log(): string {
    let text = this.output;
    if (this.options.logFile) {
      try {
        text = readFileSync(this.options.logFile, 'utf8');
      } catch {
        // not written yet
      }
    }
    return text.slice(-3000);
  }

  private commandLine(): string[] {
    if (this.options.args) return this.options.args;
    const persist = this.options.persistence ?? true;
    return [
      '--port', String(this.port),
      '--bind', this.host,
      '--dir', this.dir,
      '--save', '',
      '--appendonly', persist ? 'yes' : 'no',
      '--appendfsync', this.options.appendfsync ?? 'always',
      '--daemonize', 'no',
      '--loglevel', 'warning',
      ...(this.options.extraArgs ?? []),
    ];
  }

  /** Spawns the process and waits, bounded, until it is up. */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.proc) return;
    mkdirSync(this.dir, { recursive: true });
    const proc = spawn('redis-server', this.commandLine(), { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(proc);
    this.output = '';
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-4000));
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.proc = proc;
    this.paused = false;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    proc.once('exit', () => {
      if (this.proc === proc) this.proc = null;
    });
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', reject);
    });
    this.pid = proc.pid!;
    this.pids.push(this.pid);
    const isUp = this.options.isUp ?? (() => canConnect(this.port));
    const deadline = Date.now() + timeoutMs;
    while (!(await isUp().catch(() => false))) {
      if (this.proc !== proc) throw new Error(`redis-server on port ${this.port} exited at start:\n${this.log()}`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} not up after ${timeoutMs} ms:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /**
   * Sends a signal. SIGKILL (the default: a crash, with whatever AOF already holds) waits for the
   * exit; SIGTERM/SIGINT/SIGQUIT wait for a clean exit, then SIGKILL after `graceMs`;
   * SIGSTOP/SIGCONT return at once and mark it paused/resumed; other signals are only sent.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL', graceMs = 5000): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      proc.kill(signal);
      this.paused = signal === 'SIGSTOP';
      return;
    }
    proc.kill(signal);
    if (!TERMINATING.has(signal)) return;
    if (this.paused && signal !== 'SIGKILL') proc.kill('SIGCONT'); // a stopped process cannot handle SIGTERM
    this.paused = false;
    if (signal === 'SIGKILL') return this.exited;
    let timer: NodeJS.Timeout | undefined;
    const clean = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
    ]);
    clearTimeout(timer);
    if (!clean) {
      proc.kill('SIGKILL');
      await this.exited;
    }
  }

  /** SIGTERM (a clean shutdown), then SIGKILL after `graceMs`. */
  stop(graceMs = 5000): Promise<void> {
    return this.kill('SIGTERM', graceMs);
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
