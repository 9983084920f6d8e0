import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, killOnExit, RedisServer } from '@livevote/launcher';
import { CLUSTER_SLOTS } from '@livevote/service-kit';

// A real Redis Cluster of child processes for failover drills: every node a `redis-server` on
// 127.0.0.1 with its own folder, config and AOF, stopped by PID. The process handling and the
// polling helpers here are shared with redis-sentinel.ts.

/** Credentials the harness uses for its own admin connections (and replication, unless told otherwise). */
export interface RedisAuth {
  username?: string;
  password: string;
}

export interface HostPort {
  host: string;
  port: number;
}

const HOST = '127.0.0.1';

// --- child processes -------------------------------------------------------------------------

/** True while a process with this PID exists (a reaped child's PID is gone). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A node of a Cluster or Sentinel set: `redis-server` with its config file (which Redis rewrites,
 * so a restart keeps what it learnt), its log file, and up once PING answers PONG.
 */
export function redisNode(port: number, dir: string, args: string[], auth: RedisAuth | undefined, logFile: string): RedisServer {
  return new RedisServer({ port, dir, args, logFile, isUp: async () => (await redisCommand(port, auth, ['PING'], 1000)) === 'PONG' });
}

// --- commands and polling --------------------------------------------------------------------

/** Raised inside a poll to give up at once (e.g. the process died). */
export class Fatal extends Error {}

/**
 * Polls `probe` every `intervalMs` until it returns a value, for at most `timeoutMs`. The probe
 * throws to say "not yet" (the last reason is reported on time-out) or throws `Fatal` to give up.
 */
export async function pollUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T>, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await probe();
    } catch (err) {
      if (err instanceof Fatal) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${last instanceof Error ? last.message : String(last)}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** One command on a fresh, short-lived connection (no retries, bounded by `timeoutMs`). */
export async function redisCommand(port: number, auth: RedisAuth | undefined, args: (string | number)[], timeoutMs = 2000): Promise<unknown> {
  const client = new Redis({
    host: HOST,
    port,
    ...(auth?.username ? { username: auth.username } : {}),
    ...(auth ? { password: auth.password } : {}),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableReadyCheck: false,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const [name, ...rest] = args;
    return await client.call(String(name), ...rest);
  } finally {
    client.disconnect();
  }
}

/** `INFO section` as a key → value map. */
export async function redisInfo(port: number, auth: RedisAuth | undefined, section: string): Promise<Record<string, string>> {
  return parseInfo(String(await redisCommand(port, auth, ['INFO', section])));
}

export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** `ROLE`: 'master', or 'replica' with the master's port. */
export async function redisRole(port: number, auth: RedisAuth | undefined): Promise<{ role: 'master' } | { role: 'replica'; masterPort: number; state: string }> {
  const reply = (await redisCommand(port, auth, ['ROLE'])) as unknown[];
  if (reply[0] === 'master') return { role: 'master' };
  if (reply[0] === 'slave') return { role: 'replica', masterPort: Number(reply[2]), state: String(reply[3]) };
  throw new Error(`port ${port}: unexpected ROLE ${JSON.stringify(reply)}`);
}

/** Distinct free ports on 127.0.0.1 (free a moment ago), none of them in `exclude`. */
export async function freePorts(count: number, exclude: Iterable<number> = []): Promise<number[]> {
  const taken = new Set(exclude);
  const out: number[] = [];
  while (out.length < count) {
    const port = await freePort();
    if (!taken.has(port)) {
      taken.add(port);
      out.push(port);
    }
  }
  return out;
}

/** A config-file value, quoted. */
export function confValue(value: string | number): string {
  return JSON.stringify(String(value));
}

/** The lines every node's config file starts with: where it listens, keeps its files and logs. */
export function baseConf(port: number, dir: string, logName: string): string[] {
  return [`port ${port}`, `bind ${HOST}`, `dir ${confValue(dir)}`, `logfile ${confValue(path.join(dir, logName))}`, 'daemonize no'];
}

/** A data node's users (its ACL file, written into `dir`) and how it authenticates to its primary. */
export function authConf(dir: string, o: { acl?: string; requirepass?: string; masteruser?: string; masterauth?: string }): string[] {
  const lines: string[] = [];
  if (o.acl !== undefined) {
    const file = path.join(dir, 'users.acl');
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, o.acl.endsWith('\n') ? o.acl : `${o.acl}\n`);
    lines.push(`aclfile ${confValue(file)}`);
  }
  if (o.requirepass !== undefined) lines.push(`requirepass ${confValue(o.requirepass)}`);
  if (o.masteruser !== undefined) lines.push(`masteruser ${confValue(o.masteruser)}`);
  if (o.masterauth !== undefined) lines.push(`masterauth ${confValue(o.masterauth)}`);
  return lines;
}

/**
 * Starts a node on fresh free ports (`count` of them, e.g. client and bus port), building it with
 * `make`; if a port was taken in the meantime, retries (up to 3 times) on other ports.
 */
export async function startOnFreePorts(count: number, used: Set<number>, make: (ports: number[]) => RedisServer): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(count, used);
    ports.forEach((p) => used.add(p));
    const node = make(ports);
    try {
      await node.start();
      return node;
    } catch (err) {
      await node.kill('SIGKILL');
      if (attempt >= 3 || !/Address already in use/i.test(String(err))) throw err;
    }
  }
}

// --- the cluster -----------------------------------------------------------------------------


export interface RedisClusterOptions {
  /** Number of masters (at least 3). Default 3. */
  masters?: number;
  /** Replicas per master. Default 1. */
  replicasPerMaster?: number;
  /**
   * ACL file text (users, one a line) written to every node's folder and loaded as its `aclfile`.
   * The harness user (`auth`) needs admin rights (CLUSTER, CONFIG, INFO, ROLE...), and the
   * replication user (masteruser) at least +psync +replconf +ping.
   */
  acl?: string;
  /** Password of the `default` user on every node (`requirepass`). */
  requirepass?: string;
  /** Replication credentials (`masteruser`/`masterauth`). Default: `auth`, else `requirepass`. */
  masteruser?: string;
  masterauth?: string;
  /** Credentials for the harness's own connections and for `redis-cli --cluster create`. Default: masteruser/masterauth, else requirepass. */
  auth?: RedisAuth;
  /** `cluster-node-timeout`: how long until an unreachable master is failed over. Default 1000 ms. */
  nodeTimeoutMs?: number;
  /** Bound for the start-up waits. Default 30 s. */
  timeoutMs?: number;
}

export interface ClusterNode extends HostPort {
  /** PID of the current (or last) process; changes on start(). */
  pid: number;
  /** Last role seen (refreshed by masters(), replicaOf(), failover(), waitForMaster()...). */
  role: 'master' | 'replica';
  /** Cluster bus port (`cluster-port`). */
  busPort: number;
  /** Node ID (from nodes.conf, kept across restarts). */
  id: string;
  /** The node's folder: redis.conf, nodes.conf, users.acl, AOF, redis.log. */
  dir: string;
  /** Process running (killed or stopped nodes are not). */
  running: boolean;
}

export interface RedisCluster {
  /** The temporary folder holding every node's folder. */
  readonly dir: string;
  /** Every node, started order; each entry is kept up to date in place. */
  readonly nodes: ClusterNode[];
  /** 'host:port,…' of every node: seeds for a cluster client. */
  readonly seeds: string;
  /** The same as objects, e.g. `new Cluster(cluster.seedNodes)`. */
  readonly seedNodes: HostPort[];
  /** Every PID any node has had. */
  pids(): number[];
  /** Credentials the harness uses (undefined without auth). */
  readonly auth: RedisAuth | undefined;
  /** Running masters, by asking every reachable node its ROLE. */
  masters(): Promise<ClusterNode[]>;
  /** Running replicas whose ROLE names `masterPort` as their master. */
  replicaOf(masterPort: number): Promise<ClusterNode[]>;
  /** Signals a node: SIGKILL (default) waits for its exit; SIGTERM a clean stop; SIGSTOP/SIGCONT pause/resume. */
  kill(port: number, signal?: NodeJS.Signals): Promise<void>;
  /** Clean stop (SIGTERM, SIGKILL after a bounded wait). */
  stop(port: number): Promise<void>;
  /** Restarts a killed/stopped node with its same config and data; waits until the cluster is healthy again. */
  start(port: number): Promise<ClusterNode>;
  /** CLUSTER FAILOVER [FORCE|TAKEOVER] on a replica; waits until it is master in every running node's view. */
  failover(replicaPort: number, mode?: 'FORCE' | 'TAKEOVER', timeoutMs?: number): Promise<ClusterNode>;
  /** Waits until `slot` is served: every reachable node names the same running owner, which answers ROLE master and cluster_state:ok. */
  waitForMaster(slot: number, timeoutMs?: number): Promise<ClusterNode>;
  /** The master owning `slot` as most reachable nodes see it now (undefined if none). */
  slotOwner(slot: number): Promise<ClusterNode | undefined>;
  /** Waits until every running node reports cluster_state:ok, all slots assigned, no failed running node, and every replica's link up. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every node by PID (SIGTERM, then SIGKILL after a bounded wait) and removes the folder. */
  stopAll(): Promise<void>;
}

interface NodesLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string;
  linkState: string;
  slots: [number, number][];
}

/** Parses CLUSTER NODES. */
export function parseClusterNodes(text: string): NodesLine[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, addr, flags, masterId, , , , linkState, ...slotFields] = line.trim().split(' ');
      const port = Number(/:(\d+)@/.exec(addr ?? '')?.[1] ?? 0);
      const slots: [number, number][] = [];
      for (const s of slotFields) {
        if (s.startsWith('[')) continue; // importing/migrating
        const [a, b] = s.split('-');
        slots.push([Number(a), Number(b ?? a)]);
      }
      return { id: id!, port, flags: (flags ?? '').split(','), masterId: masterId!, linkState: linkState!, slots };
    });
}


/** A node as the drills see it: where its process is, and whether it runs. */
export class ProcessNode {
  readonly host = HOST;
  readonly proc: RedisServer;
  constructor(proc: RedisServer) {
    this.proc = proc;
  }
  get port(): number {
    return this.proc.port;
  }
  get pid(): number {
    return this.proc.pid;
  }
  get dir(): string {
    return this.proc.dir;
  }
  get running(): boolean {
    return this.proc.running;
  }
}

class Node extends ProcessNode implements ClusterNode {
  role: 'master' | 'replica' = 'master';
  id = '';
  readonly busPort: number;
  constructor(proc: RedisServer, busPort: number) {
    super(proc);
    this.busPort = busPort;
  }
  toJSON() {
    return { host: this.host, port: this.port, pid: this.pid, role: this.role, busPort: this.busPort, id: this.id, running: this.running };
  }
}

/**
 * Starts `masters × (1 + replicasPerMaster)` cluster nodes (`redis-server redis.conf --port P
 * --cluster-enabled yes --cluster-config-file nodes.conf --appendonly yes --appendfsync always`,
 * each in its own folder under one temporary folder), runs `redis-cli --cluster create … --cluster-replicas
 * N --cluster-yes`, and polls until every node reports cluster_state:ok with all 16384 slots
 * assigned, every node sees the same slot map and every replica's link is up.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masterCount = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  const total = masterCount * (1 + replicasPerMaster);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const nodeTimeout = options.nodeTimeoutMs ?? 1000;
  const auth: RedisAuth | undefined =
    options.auth ??
    (options.masterauth !== undefined
      ? { ...(options.masteruser !== undefined ? { username: options.masteruser } : {}), password: options.masterauth }
      : options.requirepass !== undefined
        ? { password: options.requirepass }
        : undefined);
  const masterauth = options.masterauth ?? auth?.password;
  const masteruser = options.masterauth !== undefined ? options.masteruser : (options.masteruser ?? auth?.username);

  const root = mkdtempSync(path.join(tmpdir(), 'lv-cluster-'));
  const nodes: Node[] = [];
  const used = new Set<number>();
  const busPorts = new Map<RedisServer, number>();

  const build = ([port, busPort]: number[]): RedisServer => {
    const dir = path.join(root, String(port));
    mkdirSync(dir, { recursive: true });
    const lines = [
      ...baseConf(port!, dir, 'redis.log'),
      'save ""',
      `cluster-port ${busPort}`,
      `cluster-node-timeout ${nodeTimeout}`,
      'repl-diskless-sync-delay 0',
      'shutdown-timeout 2',
      ...authConf(dir, { acl: options.acl, requirepass: options.requirepass, masteruser, masterauth }),
    ];
    const conf = path.join(dir, 'redis.conf');
    writeFileSync(conf, `${lines.join('\n')}\n`);
    const args = [conf, '--port', String(port), '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'), '--appendonly', 'yes', '--appendfsync', 'always'];
    const proc = redisNode(port!, dir, args, auth, path.join(dir, 'redis.log'));
    busPorts.set(proc, busPort!);
    return proc;
  };

  const byPort = (port: number): Node => {
    const node = nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no cluster node on port ${port} (nodes: ${nodes.map((n) => n.port).join(', ')})`);
    return node;
  };
  const reachable = () => nodes.filter((n) => n.proc.reachable);
  const cmd = (node: Node, ...args: (string | number)[]) => redisCommand(node.port, auth, args);
  const views = async () => Promise.all(reachable().map(async (n) => ({ node: n, lines: parseClusterNodes(String(await cmd(n, 'CLUSTER', 'NODES'))) })));
  const ownerIn = (lines: NodesLine[], slot: number) => lines.find((l) => l.flags.includes('master') && !l.flags.includes('fail') && l.slots.some(([a, b]) => slot >= a && slot <= b));
  const slotMap = (lines: NodesLine[]) =>
    lines
      .filter((l) => l.flags.includes('master') && l.slots.length > 0)
      .map((l) => `${l.id}:${l.slots.map(([a, b]) => `${a}-${b}`).join(',')}`)
      .sort()
      .join(' ');

  const stopAll = async () => {
    await Promise.all(nodes.map((n) => n.proc.stop()));
    rmSync(root, { recursive: true, force: true });
  };

  /** Throws the first reason the cluster is not healthy yet. */
  const checkHealthy = async () => {
    const running = new Set(nodes.filter((n) => n.running).map((n) => n.port));
    const maps = new Set<string>();
    for (const { node, lines } of await views()) {
      const info = parseInfo(String(await cmd(node, 'CLUSTER', 'INFO')));
      if (info.cluster_state !== 'ok') throw new Error(`${node.port}: cluster_state:${info.cluster_state}`);
      if (info.cluster_slots_assigned !== String(CLUSTER_SLOTS)) throw new Error(`${node.port}: cluster_slots_assigned:${info.cluster_slots_assigned}`);
      if (info.cluster_slots_ok !== String(CLUSTER_SLOTS)) throw new Error(`${node.port}: cluster_slots_ok:${info.cluster_slots_ok}`);
      if (Number(info.cluster_known_nodes) !== total) throw new Error(`${node.port}: cluster_known_nodes:${info.cluster_known_nodes}`);
      for (const l of lines) {
        if (!running.has(l.port)) continue;
        const bad = l.flags.filter((f) => ['fail', 'fail?', 'handshake', 'noaddr'].includes(f));
        if (bad.length) throw new Error(`${node.port} sees ${l.port} as ${bad.join(',')}`);
        if (!l.flags.includes('myself') && l.linkState !== 'connected') throw new Error(`${node.port}: link to ${l.port} ${l.linkState}`);
        if (l.flags.includes('slave')) {
          const master = lines.find((m) => m.id === l.masterId);
          if (!master || !master.flags.includes('master')) throw new Error(`${node.port} sees replica ${l.port} without a master`);
        }
      }
      const me = lines.find((l) => l.flags.includes('myself'))!;
      node.id = me.id;
      node.role = me.flags.includes('slave') ? 'replica' : 'master';
      if (node.role === 'replica') {
        const repl = await redisInfo(node.port, auth, 'replication');
        if (repl.master_link_status !== 'up') throw new Error(`replica ${node.port}: master_link_status:${repl.master_link_status}`);
      }
      maps.add(slotMap(lines));
    }
    if (maps.size > 1) throw new Error(`nodes disagree on the slot map:\n${[...maps].join('\n')}`);
  };
  const waitHealthy = (ms = timeoutMs) => pollUntil('a healthy cluster', ms, checkHealthy);

  try {
    const results = await Promise.allSettled(Array.from({ length: total }, () => startOnFreePorts(2, used, build)));
    for (const r of results) if (r.status === 'fulfilled') nodes.push(new Node(r.value, busPorts.get(r.value)!));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    nodes.sort((a, b) => a.port - b.port);
    const cliArgs = ['--cluster', 'create', ...nodes.map((n) => `${HOST}:${n.port}`), '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'];
    if (auth?.username) cliArgs.push('--user', auth.username);
    await runRedisCli(cliArgs, auth?.password, timeoutMs);
    await waitHealthy();
  } catch (err) {
    await stopAll();
    throw err;
  }

  const cluster: RedisCluster = {
    dir: root,
    nodes,
    seeds: nodes.map((n) => `${n.host}:${n.port}`).join(','),
    seedNodes: nodes.map((n) => ({ host: n.host, port: n.port })),
    auth,
    pids: () => nodes.flatMap((n) => n.proc.pids),
    async masters() {
      const out: Node[] = [];
      for (const n of reachable()) {
        const r = await redisRole(n.port, auth);
        n.role = r.role;
        if (r.role === 'master') out.push(n);
      }
      return out;
    },
    async replicaOf(masterPort) {
      const out: Node[] = [];
      for (const n of reachable()) {
        const r = await redisRole(n.port, auth);
        n.role = r.role;
        if (r.role === 'replica' && r.masterPort === masterPort) out.push(n);
      }
      return out;
    },
    kill: (port, signal = 'SIGKILL') => byPort(port).proc.kill(signal),
    stop: (port) => byPort(port).proc.stop(),
    async start(port) {
      const node = byPort(port);
      await node.proc.start();
      await waitHealthy();
      return node;
    },
    async failover(replicaPort, mode, ms = 20_000) {
      const node = byPort(replicaPort);
      await cmd(node, 'CLUSTER', 'FAILOVER', ...(mode ? [mode] : []));
      return pollUntil(`${replicaPort} to become master`, ms, async () => {
        const role = await redisRole(replicaPort, auth);
        if (role.role !== 'master') throw new Error(`${replicaPort} is still a replica`);
        for (const { node: viewer, lines } of await views()) {
          const me = lines.find((l) => l.port === replicaPort);
          if (!me?.flags.includes('master') || me.slots.length === 0) throw new Error(`${viewer.port} does not see ${replicaPort} as a master with slots yet`);
        }
        node.role = 'master';
        return node;
      });
    },
    waitForMaster(slot, ms = 20_000) {
      return pollUntil(`a master serving slot ${slot}`, ms, async () => {
        const owners = new Set<number>();
        for (const { node: viewer, lines } of await views()) {
          const owner = ownerIn(lines, slot);
          if (!owner) throw new Error(`${viewer.port} sees no master for slot ${slot}`);
          owners.add(owner.port);
        }
        if (owners.size !== 1) throw new Error(`nodes disagree on the owner of slot ${slot}: ${[...owners].join(', ')}`);
        const owner = byPort([...owners][0]!);
        if (!owner.proc.reachable) throw new Error(`slot ${slot} still assigned to ${owner.port}, which is down`);
        const role = await redisRole(owner.port, auth);
        if (role.role !== 'master') throw new Error(`${owner.port} answers ROLE ${role.role}`);
        const info = parseInfo(String(await cmd(owner, 'CLUSTER', 'INFO')));
        if (info.cluster_state !== 'ok') throw new Error(`${owner.port}: cluster_state:${info.cluster_state}`);
        owner.role = 'master';
        return owner;
      });
    },
    async slotOwner(slot) {
      const votes = new Map<number, number>();
      for (const { lines } of await views()) {
        const owner = ownerIn(lines, slot);
        if (owner) votes.set(owner.port, (votes.get(owner.port) ?? 0) + 1);
      }
      const best = [...votes].sort((a, b) => b[1] - a[1])[0];
      return best ? byPort(best[0]) : undefined;
    },
    waitHealthy: (ms) => waitHealthy(ms),
    stopAll,
  };
  return cluster;
}

/** Runs redis-cli (password through REDISCLI_AUTH, not argv), bounded by `timeoutMs`. */
export function runRedisCli(args: string[], password: string | undefined, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    if (password !== undefined) env.REDISCLI_AUTH = password;
    const proc = spawn('redis-cli', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(proc);
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && !/\[ERR\]/.test(out)) resolve(out);
      else reject(new Error(`redis-cli ${args.join(' ')} failed (${signal ?? code}):\n${out.slice(-3000)}`));
    });
  });
}
