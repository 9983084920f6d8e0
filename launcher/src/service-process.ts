import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

export interface ServiceProcessOptions {
  name: string;
  /** Entry file run with this Node binary (TypeScript runs natively on Node 24). */
  entry: string;
  env: Record<string, string | undefined>;
  /** URL that answers 200 once the service is ready. */
  readyUrl: string;
  readyTimeoutMs?: number;
  /** Pass output through to this process (npm start) instead of keeping it for diagnostics. */
  inheritOutput?: boolean;
  /** Also append all output, across restarts, to this file (the last few KB are kept regardless). */
  logFile?: string;
}

/** One service (server or consumer) as a child process that can be stopped, killed and restarted. */
export class ServiceProcess {
  readonly options: ServiceProcessOptions;
  private proc: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);
  private log = '';
  /** Exit codes of earlier runs, newest last. */
  readonly exits: (number | null)[] = [];

  constructor(options: ServiceProcessOptions) {
    this.options = options;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The last few KB of output, for a failing test's message. */
  output(): string {
    return this.log;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    // An undefined value unsets what this process inherited (spawn leaves such keys out).
    const env = { ...process.env, ...this.options.env };
    const proc = spawn(process.execPath, [this.options.entry], {
      env,
      stdio: this.options.inheritOutput ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    });
    const file = this.options.logFile ? createWriteStream(this.options.logFile, { flags: 'a' }) : null;
    const keep = (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-20_000);
      file?.write(d);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.proc = proc;
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        file?.end();
        if (this.proc === proc) this.proc = null;
        const result = code ?? (signal ? -1 : null);
        this.exits.push(result);
        resolve(result);
      }),
    );
    await this.waitReady();
  }

  /** Polls the readiness URL until it answers 200, the process exits, or time runs out. */
  async waitReady(): Promise<void> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (!this.proc) throw new Error(`${this.options.name} exited before it was ready:\n${this.log}`);
      try {
        const res = await fetch(this.options.readyUrl, { signal: AbortSignal.timeout(1000) });
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${this.options.name} not ready at ${this.options.readyUrl}:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends SIGTERM (or the given signal) and resolves with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.proc) return this.exits.at(-1) ?? null;
    this.proc.kill(signal);
    return this.exited;
  }

  /** SIGSTOP / SIGCONT: a process that hangs without exiting (GC pause, stuck I/O, debugger). */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  kill(): Promise<number | null> {
    return this.stop('SIGKILL');
  }

  /** Resolves when the current process exits on its own. */
  waitExit(): Promise<number | null> {
    return this.exited;
  }
}
