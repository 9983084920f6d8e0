/**
 * A real Toxiproxy server (built by tools/install-toxiproxy.sh into .tools/bin) and the few calls
 * of its HTTP API the nemesis makes: one proxy per link, toxics on it, the link cut by disabling it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort, killOnExit } from '@livevote/launcher';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TOXIPROXY_BIN = `${ROOT}.tools/bin/toxiproxy-server`;
export const TOXIPROXY_INSTALL = `${ROOT}tools/install-toxiproxy.sh`;

/** The toxics of Toxiproxy the nemesis uses; `stream` is the direction (upstream = client → store). */
export type Toxic =
  | { type: 'latency'; attributes: { latency: number; jitter: number } }
  | { type: 'bandwidth'; attributes: { rate: number } }
  | { type: 'timeout'; attributes: { timeout: number } }
  | { type: 'reset_peer'; attributes: { timeout: number } };
export type Direction = 'upstream' | 'downstream';

export interface Proxy {
  name: string;
  /** Where clients connect. */
  listen: { host: string; port: number };
  /** The store behind it. */
  upstream: { host: string; port: number };
}

export class Toxiproxy {
  private proc: ChildProcess | null = null;
  private log = '';
  readonly proxies = new Map<string, Proxy>();
  private api = '';

  /** Builds it from its Go module into .tools/bin the first time (about a minute). */
  static ensureInstalled(log: (line: string) => void): void {
    if (existsSync(TOXIPROXY_BIN)) return;
    log('Toxiproxy is not in .tools/bin yet: building it');
    execFileSync('bash', [TOXIPROXY_INSTALL], { stdio: ['ignore', 'inherit', 'inherit'] });
  }

  async start(): Promise<void> {
    const port = await freePort();
    this.api = `http://127.0.0.1:${port}`;
    const proc = spawn(TOXIPROXY_BIN, ['-host', '127.0.0.1', '-port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(proc);
    const keep = (d: Buffer) => (this.log = (this.log + d.toString()).slice(-8000));
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    this.proc = proc;
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`toxiproxy-server exited: ${this.log}`);
      try {
        if ((await fetch(`${this.api}/version`, { signal: AbortSignal.timeout(500) })).ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`toxiproxy-server not answering on ${this.api}: ${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.api}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`toxiproxy ${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** A proxy on a free loopback port in front of `upstream`. */
  async proxy(name: string, upstream: { host: string; port: number }): Promise<Proxy> {
    const port = await freePort();
    await this.call('POST', '/proxies', { name, listen: `127.0.0.1:${port}`, upstream: `${upstream.host}:${upstream.port}`, enabled: true });
    const p = { name, listen: { host: '127.0.0.1', port }, upstream };
    this.proxies.set(name, p);
    return p;
  }

  async addToxic(proxy: string, name: string, stream: Direction, toxic: Toxic): Promise<void> {
    await this.call('POST', `/proxies/${encodeURIComponent(proxy)}/toxics`, { name, type: toxic.type, stream, toxicity: 1, attributes: toxic.attributes });
  }

  async removeToxic(proxy: string, name: string): Promise<void> {
    await this.call('DELETE', `/proxies/${encodeURIComponent(proxy)}/toxics/${encodeURIComponent(name)}`);
  }

  /** A disabled proxy closes its connections and refuses new ones: the link cut both ways. */
  async setEnabled(proxy: string, enabled: boolean): Promise<void> {
    const p = this.proxies.get(proxy)!;
    await this.call('POST', `/proxies/${encodeURIComponent(proxy)}`, { enabled, listen: `${p.listen.host}:${p.listen.port}`, upstream: `${p.upstream.host}:${p.upstream.port}` });
  }

  /** Every proxy enabled, every toxic removed. */
  async reset(): Promise<void> {
    await this.call('POST', '/reset');
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
}
