import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { RedisServer } from '@livevote/launcher';
import {
  confValue,
  parseInfo,
  pollUntil,
  redisCommand,
  redisInfo,
  redisRole,
  authConf,
  baseConf,
  ProcessNode,
  redisNode,
  startOnFreePorts,
  type HostPort,
  type RedisAuth,
} from './redis-cluster.ts';

// A real Sentinel set-up of child processes for failover drills: a primary, its replicas (one unless told) and three
// `redis-server sentinel.conf --sentinel`, each in its own folder under one temporary folder,
// stopped by PID.

const HOST = '127.0.0.1';

export interface SentinelSetOptions {
  /** The monitored master's name. Default 'livevote'. */
  name?: string;
  /** Sentinels that must agree the primary is down. Default 2. */
  quorum?: number;
  /** Number of replicas of the primary. Default 1. */
  replicas?: number;
  /** Number of sentinels. Default 3. */
  sentinels?: number;
  /** `sentinel down-after-milliseconds`. Default 1000. */
  downAfterMs?: number;
  /** `sentinel failover-timeout`. Default 3000. */
  failoverTimeoutMs?: number;
  /**
   * ACL file text for the primary and the replica (loaded as their `aclfile`). The `auth` user must
   * be allowed what the harness, replication and the sentinels need (e.g. `+@all`, or at least
   * +psync +replconf +ping, and the sentinel set: +client +subscribe +publish +ping +info +multi
   * +slaveof +replicaof +config +exec +role, `&__sentinel__:hello`).
   */
  acl?: string;
  /** `requirepass` (default user password) on the primary and the replica. */
  requirepass?: string;
  /**
   * Credentials on the data nodes: used by the harness, by replication (masteruser/masterauth) and by
   * the sentinels (`sentinel auth-user/auth-pass`). Default: the default user with `requirepass`.
   */
  auth?: RedisAuth;
  /** Bound for start-up and health waits. Default 30 s. */
  timeoutMs?: number;
}

export interface SentinelSetNode extends HostPort {
  kind: 'data' | 'sentinel';
  /** PID of the current (or last) process. */
  pid: number;
  dir: string;
  running: boolean;
  paused: boolean;
}

export interface PromoteOptions {
  /**
   * 'replicaof' (default, deterministic): the sentinels forget the set (SENTINEL REMOVE), the replica
   * is detached (REPLICAOF NO ONE), `beforeDemote` runs, then every other data node is made a replica
   * of it in one MULTI (REPLICAOF, CONFIG REWRITE, CLIENT KILL TYPE normal/pubsub, as Sentinel does:
   * its clients reconnect through the sentinels) and the sentinels monitor the new primary again
   * (SENTINEL MONITOR + SET). Writes the old primary acknowledged after the detach are lost (it
   * resyncs from the new primary).
   *
   * 'sentinel': SENTINEL FAILOVER <name> (a forced failover without agreement; the replica must be
   * the only replica, so the choice is deterministic); returns once every sentinel reports it and it
   * answers ROLE master. The old primary, if running, stays a master (its clients still write to it,
   * writes that are lost) until Sentinel demotes it, some 10 s later with Redis 7.0 (four hello
   * periods, then its next INFO): `waitHealthy()` waits for that. The length of that window is up
   * to Sentinel, so lost-write drills should use 'replicaof'.
   */
  via?: 'replicaof' | 'sentinel';
  /** ('replicaof' only) runs while both nodes are masters: what is written to the old primary now is lost. */
  beforeDemote?: (oldPrimary: HostPort, newPrimary: HostPort) => Promise<void>;
  timeoutMs?: number;
}

export interface SentinelSet {
  readonly name: string;
  /** The temporary folder holding every node's folder. */
  readonly dir: string;
  /** 'host:port,…' of the sentinels. */
  readonly sentinels: string;
  /** The same as objects: `new Redis({ sentinels: set.sentinelNodes, name: set.name })`. */
  readonly sentinelNodes: HostPort[];
  /** Primary and replicas first (as started), then the sentinels; kept up to date in place. */
  readonly nodes: SentinelSetNode[];
  readonly auth: RedisAuth | undefined;
  /** Every PID any node has had. */
  pids(): number[];
  /** The primary as the first reachable sentinel reports it (SENTINEL GET-MASTER-ADDR-BY-NAME). */
  primary(): Promise<HostPort>;
  /** A healthy replica as the first reachable sentinel reports it (SENTINEL REPLICAS); throws if none. */
  replica(): Promise<HostPort>;
  /** Signals a node: SIGKILL (default) waits for its exit; SIGTERM a clean stop (SIGKILL after a bounded wait). */
  kill(port: number, signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP / SIGCONT a node (returns at once; pollers skip a paused node). */
  signal(port: number, signal: 'SIGSTOP' | 'SIGCONT'): Promise<void>;
  /** Restarts a killed node with its same config (a sentinel-rewritten one, for a data node the sentinels demoted). */
  start(port: number): Promise<SentinelSetNode>;
  /** Waits until every reachable sentinel reports the same new master (not `oldPrimaryPort`) and it answers ROLE master. */
  waitForFailover(oldPrimaryPort: number, timeoutMs?: number): Promise<HostPort>;
  /** Makes `replicaPort` the primary, deterministically (see PromoteOptions); returns it once the set is healthy. */
  promote(replicaPort: number, options?: PromoteOptions): Promise<HostPort>;
  /** Waits until every reachable sentinel agrees on the primary, knows every running replica (link ok) and the other sentinels, and every replica's link is up. */
  waitHealthy(timeoutMs?: number): Promise<HostPort>;
  /** The last `lines` lines of every node's log, each under a header naming it: for a failed drill's message. */
  logs(lines?: number): string;
  /** Stops every node by PID (SIGTERM, then SIGKILL after a bounded wait) and removes the folder. */
  stopAll(): Promise<void>;
}

class SetNode extends ProcessNode implements SentinelSetNode {
  readonly kind: 'data' | 'sentinel';
  constructor(proc: RedisServer, kind: 'data' | 'sentinel') {
    super(proc);
    this.kind = kind;
  }
  get paused(): boolean {
    return this.proc.paused;
  }
  toJSON() {
    return { kind: this.kind, host: this.host, port: this.port, pid: this.pid, running: this.running, paused: this.paused };
  }
}

/** A flat [k1, v1, k2, v2…] reply as an object. */
function fields(reply: unknown): Record<string, string> {
  const arr = reply as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < arr.length; i += 2) out[arr[i]!] = String(arr[i + 1]);
  return out;
}

const healthyFlags = (flags: string | undefined, role: string) => (flags ?? '').split(',').every((f) => f === role);

/**
 * Starts a primary, a replica of it and `sentinels` sentinels monitoring it, and polls until every
 * sentinel knows the replica and the other sentinels and the replica's link is up.
 */
export async function startSentinelSet(options: SentinelSetOptions = {}): Promise<SentinelSet> {
  const name = options.name ?? 'livevote';
  const quorum = options.quorum ?? 2;
  const sentinelCount = options.sentinels ?? 3;
  const downAfterMs = options.downAfterMs ?? 1000;
  const failoverTimeoutMs = options.failoverTimeoutMs ?? 3000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const auth: RedisAuth | undefined = options.auth ?? (options.requirepass !== undefined ? { password: options.requirepass } : undefined);

  const root = mkdtempSync(path.join(tmpdir(), 'lv-sentinel-'));
  const nodes: SetNode[] = [];
  const used = new Set<number>();

  const buildData = (replicaOf?: number) => ([port]: number[]): RedisServer => {
    const dir = path.join(root, `redis-${port}`);
    const lines = [
      ...baseConf(port!, dir, 'redis.log'),
      'save ""',
      'appendonly yes',
      'appendfsync always',
      'repl-diskless-sync-delay 0',
      'shutdown-timeout 2',
      ...authConf(dir, { acl: options.acl, requirepass: options.requirepass, masteruser: auth?.username, masterauth: auth?.password }),
    ];
    // In the file, not on the command line, so that what Sentinel rewrites (CONFIG REWRITE) holds on a restart.
    if (replicaOf !== undefined) lines.push(`replicaof ${HOST} ${replicaOf}`);
    mkdirp(dir);
    const conf = path.join(dir, 'redis.conf');
    writeFileSync(conf, `${lines.join('\n')}\n`);
    return redisNode(port!, dir, [conf], auth, path.join(dir, 'redis.log'));
  };

  const monitorLines = (primaryPort: number) => {
    const lines = [
      `sentinel monitor ${name} ${HOST} ${primaryPort} ${quorum}`,
      `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
      `sentinel failover-timeout ${name} ${failoverTimeoutMs}`,
      `sentinel parallel-syncs ${name} 1`,
    ];
    if (auth?.username !== undefined) lines.push(`sentinel auth-user ${name} ${confValue(auth.username)}`);
    if (auth !== undefined) lines.push(`sentinel auth-pass ${name} ${confValue(auth.password)}`);
    return lines;
  };

  const buildSentinel = (primaryPort: number) => ([port]: number[]): RedisServer => {
    const dir = path.join(root, `sentinel-${port}`);
    mkdirp(dir);
    const lines = [
      ...baseConf(port!, dir, 'sentinel.log'),
      'sentinel resolve-hostnames no',
      ...monitorLines(primaryPort),
    ];
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(conf, `${lines.join('\n')}\n`);
    return redisNode(port!, dir, [conf, '--sentinel'], undefined, path.join(dir, 'sentinel.log'));
  };

  const byPort = (port: number): SetNode => {
    const node = nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node on port ${port} (nodes: ${nodes.map((n) => `${n.kind}:${n.port}`).join(', ')})`);
    return node;
  };
  const sentinelNodes = () => nodes.filter((n) => n.kind === 'sentinel');
  const reachableSentinels = () => sentinelNodes().filter((n) => n.proc.reachable);
  const sentinelCmd = (s: SetNode, ...args: (string | number)[]) => redisCommand(s.port, undefined, args);
  const dataCmd = (port: number, ...args: (string | number)[]) => redisCommand(port, auth, args);

  const masterAddr = async (s: SetNode): Promise<HostPort | undefined> => {
    const reply = (await sentinelCmd(s, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string] | null;
    return reply ? { host: reply[0], port: Number(reply[1]) } : undefined;
  };

  const stopAll = async () => {
    // Sentinels first, so that none reacts to the data nodes going away.
    await Promise.all(sentinelNodes().map((n) => n.proc.stop()));
    await Promise.all(nodes.filter((n) => n.kind === 'data').map((n) => n.proc.stop()));
    rmSync(root, { recursive: true, force: true });
  };

  /** Throws the first reason the set is not healthy yet; returns the primary. */
  const checkHealthy = async (): Promise<HostPort> => {
    const sentinels = reachableSentinels();
    if (sentinels.length === 0) throw new Error('no reachable sentinel');
    const seen = new Set<number>();
    for (const s of sentinels) {
      const addr = await masterAddr(s);
      if (!addr) throw new Error(`sentinel ${s.port} does not monitor ${name}`);
      seen.add(addr.port);
    }
    if (seen.size !== 1) throw new Error(`sentinels disagree on the primary: ${[...seen].join(', ')}`);
    const primaryPort = [...seen][0]!;
    const primary = byPort(primaryPort);
    if (!primary.proc.reachable) throw new Error(`the sentinels' primary ${primaryPort} is down`);
    const role = await redisRole(primaryPort, auth);
    if (role.role !== 'master') throw new Error(`primary ${primaryPort} answers ROLE ${role.role}`);
    const replicas = nodes.filter((n) => n.kind === 'data' && n.port !== primaryPort && n.proc.reachable);
    for (const r of replicas) {
      const repl = await redisInfo(r.port, auth, 'replication');
      if (repl.master_port !== String(primaryPort) || repl.master_link_status !== 'up') {
        throw new Error(`replica ${r.port}: master_port:${repl.master_port} master_link_status:${repl.master_link_status}`);
      }
    }
    for (const s of sentinels) {
      const master = fields(await sentinelCmd(s, 'SENTINEL', 'MASTER', name));
      if (!healthyFlags(master.flags, 'master')) throw new Error(`sentinel ${s.port}: master flags ${master.flags}`);
      const known = ((await sentinelCmd(s, 'SENTINEL', 'REPLICAS', name)) as unknown[]).map(fields);
      for (const r of replicas) {
        const entry = known.find((k) => Number(k.port) === r.port);
        if (!entry) throw new Error(`sentinel ${s.port} does not know replica ${r.port} yet`);
        if (!healthyFlags(entry.flags, 'slave') || entry['master-link-status'] !== 'ok' || entry['master-port'] !== String(primaryPort)) {
          throw new Error(`sentinel ${s.port} sees replica ${r.port}: flags ${entry.flags}, link ${entry['master-link-status']}, master ${entry['master-port']}`);
        }
      }
      const peers = ((await sentinelCmd(s, 'SENTINEL', 'SENTINELS', name)) as unknown[]).map(fields);
      for (const other of sentinels) {
        if (other === s) continue;
        const entry = peers.find((p) => Number(p.port) === other.port);
        if (!entry || !healthyFlags(entry.flags, 'sentinel')) throw new Error(`sentinel ${s.port} does not see sentinel ${other.port}${entry ? ` (flags ${entry.flags})` : ''}`);
      }
    }
    return { host: HOST, port: primaryPort };
  };
  const waitHealthy = (ms = timeoutMs) => pollUntil(`a healthy sentinel set "${name}"`, ms, checkHealthy);

  const logsOf = (of: SetNode[], lines: number) =>
    of.map((n) => `--- ${n.kind} ${n.port}${n.proc.paused ? ' (paused)' : n.proc.reachable ? '' : ' (down)'}:\n${n.proc.log().split('\n').slice(-lines).join('\n')}`).join('\n');

  const firstSentinelAnswer = async <T>(ask: (s: SetNode) => Promise<T>): Promise<T> => {
    let last: unknown = new Error('no reachable sentinel');
    for (const s of reachableSentinels()) {
      try {
        return await ask(s);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  };

  const replicaAddr = () =>
    firstSentinelAnswer(async (s) => {
      const known = ((await sentinelCmd(s, 'SENTINEL', 'REPLICAS', name)) as unknown[]).map(fields);
      const ok = known.find((k) => healthyFlags(k.flags, 'slave') && k['master-link-status'] === 'ok');
      if (!ok) throw new Error(`sentinel ${s.port} knows no healthy replica of ${name}: ${JSON.stringify(known.map((k) => `${k.port}:${k.flags}`))}`);
      return { host: ok.ip!, port: Number(ok.port) };
    });

  const waitForMaster = (what: string, ms: number, accept: (port: number) => boolean) =>
    pollUntil(what, ms, async () => {
      const seen = new Set<number>();
      for (const s of reachableSentinels()) {
        const addr = await masterAddr(s);
        if (!addr) throw new Error(`sentinel ${s.port} does not monitor ${name}`);
        seen.add(addr.port);
      }
      if (seen.size !== 1) throw new Error(`sentinels disagree on the primary: ${[...seen].join(', ')}`);
      const port = [...seen][0]!;
      if (!accept(port)) throw new Error(`sentinels still report ${port}`);
      const role = await redisRole(port, auth);
      if (role.role !== 'master') throw new Error(`${port} answers ROLE ${role.role}`);
      return { host: HOST, port };
    });

  try {
    const primary = await startOnFreePorts(1, used, buildData());
    nodes.push(new SetNode(primary, 'data'));
    for (let i = 0; i < (options.replicas ?? 1); i++) nodes.push(new SetNode(await startOnFreePorts(1, used, buildData(primary.port)), 'data'));
    const results = await Promise.allSettled(Array.from({ length: sentinelCount }, () => startOnFreePorts(1, used, buildSentinel(primary.port))));
    for (const r of results) if (r.status === 'fulfilled') nodes.push(new SetNode(r.value, 'sentinel'));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    await waitHealthy();
  } catch (err) {
    await stopAll();
    throw err;
  }

  const set: SentinelSet = {
    name,
    dir: root,
    sentinels: sentinelNodes()
      .map((n) => `${n.host}:${n.port}`)
      .join(','),
    sentinelNodes: sentinelNodes().map((n) => ({ host: n.host, port: n.port })),
    nodes,
    auth,
    pids: () => nodes.flatMap((n) => n.proc.pids),
    primary: () =>
      firstSentinelAnswer(async (s) => {
        const addr = await masterAddr(s);
        if (!addr) throw new Error(`sentinel ${s.port} does not monitor ${name}`);
        return addr;
      }),
    replica: replicaAddr,
    kill: (port, signal = 'SIGKILL') => byPort(port).proc.kill(signal),
    signal: (port, signal) => byPort(port).proc.kill(signal),
    async start(port) {
      const node = byPort(port);
      await node.proc.start();
      return node;
    },
    // 60 s by default: a failover takes some 2.5 s here, but a split election is retried only after
    // 2 × failover-timeout, and a sentinel whose timer was starved for 2 s (a loaded CI machine)
    // stays in TILT, taking no action, for 30 s. On a time-out the sentinels' logs say which it was.
    async waitForFailover(oldPrimaryPort, ms = 60_000) {
      try {
        const next = await waitForMaster(`a failover away from ${oldPrimaryPort}`, ms, (port) => port !== oldPrimaryPort);
        // A sentinel that still lacks a fresh PING reply from the promoted node (one SIGSTOPped a
        // moment ago) soon calls it down and fails over again, to whatever old primary is back by
        // then. Only once every sentinel gets its answers is the failover over.
        await pollUntil(`every sentinel answered by the new primary ${next.port}`, ms, async () => {
          for (const s of reachableSentinels()) {
            const m = fields(await sentinelCmd(s, 'SENTINEL', 'MASTER', name));
            const lastOk = Number(m['last-ok-ping-reply']);
            if (Number(m.port) !== next.port || !healthyFlags(m.flags, 'master') || !(lastOk < downAfterMs / 2)) {
              throw new Error(`sentinel ${s.port}: master ${m.port}, flags ${m.flags}, last PING answered ${lastOk} ms ago`);
            }
          }
        });
        return next;
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${logsOf(sentinelNodes(), 15)}`, { cause: err });
      }
    },
    logs: (lines = 25) => logsOf(nodes, lines),

    async promote(replicaPort, opts = {}) {
      const ms = opts.timeoutMs ?? 20_000;
      const target = byPort(replicaPort);
      if (target.kind !== 'data' || !target.proc.reachable) throw new Error(`${replicaPort} is not a running data node`);
      const unreachable = sentinelNodes().filter((s) => !s.proc.reachable);
      if (unreachable.length) throw new Error(`promote needs every sentinel up (down or paused: ${unreachable.map((s) => s.port).join(', ')})`);
      const old = await checkHealthy();
      if (old.port === replicaPort) throw new Error(`${replicaPort} is already the primary`);
      const newPrimary = { host: HOST, port: replicaPort };

      if ((opts.via ?? 'replicaof') === 'sentinel') {
        const others = nodes.filter((n) => n.kind === 'data' && n.port !== replicaPort && n.port !== old.port && n.proc.reachable);
        if (others.length) throw new Error(`SENTINEL FAILOVER picks among ${others.length + 1} replicas; use via: 'replicaof'`);
        await sentinelCmd(sentinelNodes()[0]!, 'SENTINEL', 'FAILOVER', name);
        // Sentinel demotes a still-running old primary only some 10 s later (it waits 4 hello
        // periods, then its next INFO): call waitHealthy() for that.
        return waitForMaster(`SENTINEL FAILOVER to ${replicaPort}`, ms, (port) => port === replicaPort);
      }

      // 1. The sentinels forget the set, so that none reacts to two masters.
      for (const s of sentinelNodes()) await sentinelCmd(s, 'SENTINEL', 'REMOVE', name);
      // 2. The replica becomes a master with what it holds now.
      await dataCmd(replicaPort, 'REPLICAOF', 'NO', 'ONE');
      await dataCmd(replicaPort, 'CONFIG', 'REWRITE');
      // 3. The window: the old primary still takes writes, which will be lost.
      await opts.beforeDemote?.(old, newPrimary);
      // 4. Every other running data node follows the new primary; their clients are disconnected.
      const followers = nodes.filter((n) => n.kind === 'data' && n.port !== replicaPort && n.proc.reachable);
      for (const f of followers) {
        const client = new Redis({ host: HOST, port: f.port, ...(auth?.username ? { username: auth.username } : {}), ...(auth ? { password: auth.password } : {}), maxRetriesPerRequest: 0, retryStrategy: () => null });
        client.on('error', () => {});
        try {
          const replies = await client
            .multi()
            .call('REPLICAOF', HOST, String(replicaPort))
            .call('CONFIG', 'REWRITE')
            .call('CLIENT', 'KILL', 'TYPE', 'normal')
            .call('CLIENT', 'KILL', 'TYPE', 'pubsub')
            .exec();
          const failedReply = replies?.find(([err]) => err);
          if (failedReply) throw failedReply[0];
        } finally {
          client.disconnect();
        }
      }
      // The new primary lists its replicas before the sentinels' first INFO (or they would find them 10 s later).
      await pollUntil(`${followers.length} replica(s) to attach to ${replicaPort}`, ms, async () => {
        const repl = parseInfo(String(await dataCmd(replicaPort, 'INFO', 'replication')));
        if (Number(repl.connected_slaves) < followers.length) throw new Error(`connected_slaves:${repl.connected_slaves}`);
        return true;
      });
      // 5. The sentinels monitor the new primary.
      for (const s of sentinelNodes()) {
        await sentinelCmd(s, 'SENTINEL', 'MONITOR', name, HOST, replicaPort, quorum);
        await sentinelCmd(s, 'SENTINEL', 'SET', name, 'down-after-milliseconds', downAfterMs, 'failover-timeout', failoverTimeoutMs, 'parallel-syncs', 1);
        if (auth?.username !== undefined) await sentinelCmd(s, 'SENTINEL', 'SET', name, 'auth-user', auth.username);
        if (auth !== undefined) await sentinelCmd(s, 'SENTINEL', 'SET', name, 'auth-pass', auth.password);
      }
      await waitHealthy(ms);
      return newPrimary;
    },
    waitHealthy: (ms) => waitHealthy(ms),
    stopAll,
  };
  return set;
}

function mkdirp(dir: string): void {
  mkdirSync(dir, { recursive: true });
}
