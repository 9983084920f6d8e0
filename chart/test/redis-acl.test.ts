/**
 * The Redis ACL of chart/files/redis-acl.json on real redis-servers (7.0 or later), loaded twice:
 * as the chart renders it (the init container's write-acl.sh) and as `npm start` writes it
 * (the launcher's redisAclLines). On each:
 * - the services' own code (the server's vote intake, rate limits and tally subscription, the
 *   consumer's VoteStream), connecting the way the services connect, runs every command it sends,
 *   on its real keys, without a single ACL denial, and every command the file grants is one it ran;
 * - every forbidden (user, command, key) pair in the table below answers NOPERM, and a script
 *   run with EVAL gains nothing over the commands the user may run itself.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_GROUP, redisKeys, type TallyMessage } from '@livevote/contract';
import { RedisServer, freePort } from '@livevote/harness';
import { redisAclLines } from '@livevote/launcher';
import { createLogger, createRedis, shardKeys, waitReady, type RedisClient } from '@livevote/service-kit';
// The services' own Redis code, so that this test follows what they really send.
import { VoteIntake } from '../../server/src/vote-intake.ts';
import { RoundStateCopy } from '../../server/src/round-state.ts';
import { WatcherCount } from '../../server/src/watcher-count.ts';
import { createRateLimits } from '../../server/src/rate-limits.ts';
import { sampleRedisMemory } from '../../server/src/redis-memory.ts';
import type { ServerMetrics } from '../../server/src/metrics.ts';
import { VoteStream } from '../../consumer/src/vote-stream.ts';
import { chartDir, render, run } from './lib.ts';

const PREFIX = 'lv:';
const keys = redisKeys(PREFIX);
const passwords = { server: 'server-pw-0123456789', consumer: 'consumer-pw-0123456789', scaler: 'scaler-pw-0123456789', probe: 'probe-pw-0123456789', admin: 'admin-pw-0123456789' };
type User = keyof typeof passwords;
const logger = createLogger('redis-acl-test', 'silent');

const tmp = mkdtempSync(join(tmpdir(), 'livevote-redis-acl-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The chart's ACL file: its rendered write-acl.sh, run as the init container runs it. */
function chartAclFile(): string {
  const cm = render([]).find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'lv-livevote-redis');
  const dir = join(tmp, 'chart-acl');
  mkdirSync(dir);
  const script = (cm.data['write-acl.sh'] as string).replace('> /acl/users.acl', `> ${dir}/users.acl`);
  const env = { PATH: process.env.PATH, ...Object.fromEntries(Object.entries(passwords).map(([u, p]) => [`REDIS_${u.toUpperCase()}_PASSWORD`, p])) };
  const r = run('sh', ['-c', script], { env });
  if (r.status !== 0) throw new Error(`write-acl.sh failed: ${r.stderr}`);
  return join(dir, 'users.acl');
}

/** The local stack's ACL file, as launcher/src/start.ts writes it. */
function launcherAclFile(): string {
  const file = join(tmp, 'launcher-users.acl');
  writeFileSync(file, redisAclLines(PREFIX, { redisAdmin: passwords.admin, redisServer: passwords.server, redisConsumer: passwords.consumer }).join('\n') + '\n', { mode: 0o600 });
  return file;
}

/** What the file grants each user: every command, at the root or in a selector. */
/**
 * What a user is granted, less what only a Cluster client sends (CLUSTER SLOTS, INFO): the services run
 * as these users on a real Redis Cluster in system-tests/faults/redis-cluster.test.ts.
 */
function grantedCommands(user: string): string[] {
  const doc = JSON.parse(readFileSync(join(chartDir, 'files', 'redis-acl.json'), 'utf8')) as { users: { name: string; commands?: string[]; selectors?: { commands: string[] }[] }[] };
  const u = doc.users.find((x) => x.name === user)!;
  return [...new Set([...(u.commands ?? []), ...(u.selectors ?? []).flatMap((s) => s.commands)])].filter((c) => !c.startsWith('cluster|'));
}

const flatToObject = (flat: unknown[]) => {
  const o: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[String(flat[i])] = flat[i + 1];
  return o;
};

/**
 * Forbidden (user, command with its keys or channels) pairs: each must answer NOPERM. The
 * reproduction of the issue is the first row: before selectors, the server's DEL lv:votes gave 1.
 */
const other = 'other:key';
const FORBIDDEN: [User, ...string[]][] = [
  // server: the votes stream is XADD-only (and the vote script's EVAL/EVALSHA)
  ['server', 'DEL', 'lv:votes'],
  ['server', 'UNLINK', 'lv:votes'],
  ['server', 'SET', 'lv:votes', 'x'],
  ['server', 'GET', 'lv:votes'],
  ['server', 'DECR', 'lv:votes'],
  ['server', 'INCR', 'lv:votes'],
  ['server', 'EXPIRE', 'lv:votes', '1'],
  ['server', 'RENAME', 'lv:votes', 'lv:idem:x'],
  ['server', 'XTRIM', 'lv:votes', 'MAXLEN', '0'],
  ['server', 'XDEL', 'lv:votes', '0-1'],
  ['server', 'XACK', 'lv:votes', CONSUMER_GROUP, '0-1'],
  ['server', 'XRANGE', 'lv:votes', '-', '+'],
  ['server', 'XLEN', 'lv:votes'],
  ['server', 'XREADGROUP', 'GROUP', CONSUMER_GROUP, 'x', 'STREAMS', 'lv:votes', '>'],
  ['server', 'XGROUP', 'CREATE', 'lv:votes', 'g', '$', 'MKSTREAM'],
  ['server', 'XGROUP', 'DESTROY', 'lv:votes', CONSUMER_GROUP],
  ['server', 'XSETID', 'lv:votes', '9999999999999-0'],
  // server: the dead-letter stream and other keys are not its own
  ['server', 'XADD', 'lv:votes:dead', '*', 'a', 'b'],
  ['server', 'XRANGE', 'lv:votes:dead', '-', '+'],
  ['server', 'XADD', 'lv:votesx', '*', 'a', 'b'],
  ['server', 'XADD', 'lv:idem:x', '*', 'a', 'b'],
  ['server', 'XADD', 'lv:rl:x', '*', 'a', 'b'],
  ['server', 'GET', other],
  ['server', 'SET', other, 'x'],
  ['server', 'GET', 'lv:idem'],
  ['server', 'GET', 'lv:tally'],
  ['server', 'XADD', other, '*', 'a', 'b'],
  // server: idempotency records are GET/SET only
  ['server', 'DEL', 'lv:idem:x'],
  ['server', 'GETDEL', 'lv:idem:x'],
  ['server', 'INCR', 'lv:idem:x'],
  ['server', 'PTTL', 'lv:idem:x'],
  // server: rate-limit counters only through rate-limit-redis's script (PTTL, SET PX, INCR)
  ['server', 'DEL', 'lv:rl:votes:203.0.113.9'],
  ['server', 'DECR', 'lv:rl:votes:203.0.113.9'],
  ['server', 'GET', 'lv:rl:votes:203.0.113.9'],
  ['server', 'EXPIRE', 'lv:rl:votes:203.0.113.9', '1'],
  ['server', 'PERSIST', 'lv:rl:votes:203.0.113.9'],
  ['server', 'GETDEL', 'lv:rl:votes:203.0.113.9'],
  // server: scripts only with the keys of its own two scripts, and EVAL only for the vote script
  ['server', 'EVAL', 'return 1', '1', 'lv:rl:x'],
  ['server', 'EVAL', 'return 1', '2', 'lv:rl:x', 'lv:votes'],
  ['server', 'EVALSHA', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', '2', 'lv:idem:x', 'lv:rl:x'],
  ['server', 'EVAL', 'return 1', '1', 'lv:votes:dead'],
  ['server', 'EVAL', 'return 1', '1', other],
  ['server', 'EVAL_RO', 'return 1', '1', 'lv:idem:x'],
  ['server', 'FCALL', 'f', '1', 'lv:votes'],
  // server: the round state is HMGET/HGET/HSET only; the watcher hash HSET/HGETALL/HDEL only
  ['server', 'DEL', 'lv:round'],
  ['server', 'HDEL', 'lv:round', 'voting'],
  ['server', 'HGETALL', 'lv:round'],
  ['server', 'HSET', 'lv:votes', 'a', 'b'],
  ['server', 'HSET', 'lv:idem:x', 'a', 'b'],
  ['server', 'DEL', 'lv:watchers'],
  ['server', 'SET', 'lv:watchers', 'x'],
  ['server', 'HSET', other, 'a', 'b'],
  // server: the sharded stream keys are as closed as the unsharded ones
  ['server', 'DEL', 'lv:{s0.1632}votes'],
  ['server', 'XRANGE', 'lv:{s0.1632}votes', '-', '+'],
  ['server', 'DEL', 'lv:{s0.1632}round'],
  ['server', 'XADD', 'lv:{s0.1632}votes:dead', '*', 'a', 'b'],
  // server: tallies and host changes on the tally channel only, never listens elsewhere
  ['server', 'PUBLISH', 'lv:other', '{}'],
  ['server', 'SPUBLISH', 'lv:other', '{}'],
  ['server', 'SUBSCRIBE', 'lv:other'],
  ['server', 'SSUBSCRIBE', 'lv:other'],
  ['server', 'PSUBSCRIBE', 'lv:*'],
  // server: nothing on the whole server
  ['server', 'FLUSHALL'],
  ['server', 'KEYS', '*'],
  ['server', 'SCAN', '0'],
  ['server', 'CONFIG', 'GET', 'appendfsync'],
  ['server', 'CONFIG', 'SET', 'appendfsync', 'no'],
  ['server', 'ACL', 'LIST'],
  ['server', 'SCRIPT', 'FLUSH'],
  ['server', 'CLIENT', 'LIST'],
  ['server', 'SELECT', '1'],
  ['server', 'MULTI'],
  ['server', 'PING'],
  // consumer: the votes stream is read in the group, acknowledged and trimmed, never written
  ['consumer', 'XADD', 'lv:votes', '*', 'vid', 'forged', 'option', 'cats', 'ts', '1'],
  ['consumer', 'DEL', 'lv:votes'],
  ['consumer', 'UNLINK', 'lv:votes'],
  ['consumer', 'XDEL', 'lv:votes', '0-1'],
  ['consumer', 'XSETID', 'lv:votes', '9999999999999-0'],
  ['consumer', 'XCLAIM', 'lv:votes', CONSUMER_GROUP, 'x', '0', '0-1'],
  ['consumer', 'XGROUP', 'DESTROY', 'lv:votes', CONSUMER_GROUP],
  ['consumer', 'XGROUP', 'SETID', 'lv:votes', CONSUMER_GROUP, '$'],
  ['consumer', 'XGROUP', 'CREATECONSUMER', 'lv:votes', CONSUMER_GROUP, 'x'],
  ['consumer', 'XINFO', 'STREAM', 'lv:votes'],
  ['consumer', 'EXPIRE', 'lv:votes', '1'],
  // scaler (KEDA): reads the group's lag and the stream's length, nothing else
  ['scaler', 'XADD', 'lv:votes', '*', 'vid', 'forged'],
  ['scaler', 'XRANGE', 'lv:votes', '-', '+'],
  ['scaler', 'XREADGROUP', 'GROUP', CONSUMER_GROUP, 'x', 'STREAMS', 'lv:votes', '>'],
  ['scaler', 'XPENDING', 'lv:votes', CONSUMER_GROUP],
  ['scaler', 'GET', 'lv:idem:x'],
  ['scaler', 'HGETALL', 'lv:round'],
  ['scaler', 'CONFIG', 'GET', 'maxmemory'],
  // consumer: the round state, the watcher hash and the sharded streams' writes are not its own
  // consumer: idempotency records are UNLINK only
  ['consumer', 'GET', 'lv:idem:x'],
  ['consumer', 'SET', 'lv:idem:x', 'cats'],
  ['consumer', 'DEL', 'lv:idem:x'],
  ['consumer', 'UNLINK', 'lv:round'],
  ['consumer', 'HSET', 'lv:round', 'voting', 'open'],
  ['consumer', 'HGET', 'lv:round', 'voting'],
  ['consumer', 'HGETALL', 'lv:watchers'],
  ['consumer', 'XADD', 'lv:{s0.1632}votes', '*', 'vid', 'forged'],
  ['consumer', 'DEL', 'lv:{s0.1632}votes'],
  ['consumer', 'SSUBSCRIBE', 'lv:tally'],
  // consumer: the attempt marks are HSET, HGETALL, HDEL only
  ['consumer', 'DEL', 'lv:votes:unfinished'],
  ['consumer', 'HMGET', 'lv:votes:dead', 'x'],
  ['consumer', 'HINCRBY', 'lv:votes:unfinished', 'x', '1'],
  ['consumer', 'HSET', 'lv:votes:dead', 'x', '1'],
  // consumer: the dead-letter stream is XADD-only
  ['consumer', 'XRANGE', 'lv:votes:dead', '-', '+'],
  ['consumer', 'XLEN', 'lv:votes:dead'],
  ['consumer', 'XTRIM', 'lv:votes:dead', 'MAXLEN', '0'],
  ['consumer', 'DEL', 'lv:votes:dead'],
  ['consumer', 'XREADGROUP', 'GROUP', CONSUMER_GROUP, 'x', 'STREAMS', 'lv:votes:dead', '>'],
  // consumer: SET anything, and nothing of the server's keys
  ['consumer', 'SET', 'lv:votes', 'x'],
  ['consumer', 'SET', 'lv:votes:dead', 'x'],
  ['consumer', 'SET', 'lv:idem:x', 'x'],
  ['consumer', 'SET', 'lv:rl:x', 'x'],
  ['consumer', 'SET', other, 'x'],
  ['consumer', 'GET', 'lv:idem:x'],
  ['consumer', 'GET', 'lv:rl:x'],
  ['consumer', 'INCR', 'lv:rl:x'],
  ['consumer', 'XADD', other, '*', 'a', 'b'],
  // consumer: scripts only on the stream (its forget-idle-member script), never EVALSHA or on other keys
  ['consumer', 'EVAL', 'return 1', '1', 'lv:votes:dead'],
  ['consumer', 'EVAL', 'return 1', '2', 'lv:votes', 'lv:votes:dead'],
  ['consumer', 'EVAL', 'return 1', '1', 'lv:idem:x'],
  ['consumer', 'EVAL', 'return 1', '1', other],
  ['consumer', 'EVALSHA', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', '1', 'lv:votes'],
  ['consumer', 'SCRIPT', 'LOAD', 'return 1'],
  // consumer: publishes tallies, never listens, never publishes elsewhere
  ['consumer', 'SUBSCRIBE', 'lv:tally'],
  ['consumer', 'PUBLISH', 'lv:other', '{}'],
  ['consumer', 'FLUSHALL'],
  ['consumer', 'KEYS', '*'],
  ['consumer', 'CONFIG', 'GET', 'appendfsync'],
  ['consumer', 'ACL', 'LIST'],
  ['consumer', 'PING'],
  // probe: PING and nothing else
  ['probe', 'GET', 'lv:idem:x'],
  ['probe', 'SET', other, 'x'],
  ['probe', 'XADD', 'lv:votes', '*', 'a', 'b'],
  ['probe', 'XRANGE', 'lv:votes', '-', '+'],
  ['probe', 'DEL', 'lv:votes'],
  ['probe', 'INFO'],
  ['probe', 'CLIENT', 'SETNAME', 'x'],
  ['probe', 'SUBSCRIBE', 'lv:tally'],
  ['probe', 'PUBLISH', 'lv:tally', '{}'],
  ['probe', 'EVAL', 'return 1', '0'],
  ['probe', 'KEYS', '*'],
  ['probe', 'CONFIG', 'GET', 'appendfsync'],
  ['probe', 'FLUSHALL'],
];

/** Scripts the server may start (EVAL with its vote script's keys) that try what it may not do itself. */
const FORBIDDEN_IN_SCRIPT: [string, string[]][] = [
  ["return redis.call('DEL', KEYS[1])", ['lv:votes']],
  ["return redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)", ['lv:votes']],
  ["return redis.call('SET', KEYS[1], 'x')", ['lv:votes']],
  ["return redis.call('XRANGE', KEYS[1], '-', '+')", ['lv:votes']],
  ["return redis.call('DEL', KEYS[1])", ['lv:idem:x']],
  ["return redis.call('XADD', 'lv:votes:dead', '*', 'a', 'b')", ['lv:votes']],
  ["return redis.call('GET', 'other:key')", ['lv:idem:x']],
  ["return redis.call('DEL', 'lv:rl:x')", []],
  ["return redis.call('DEL', KEYS[1])", ['lv:round']],
  ["return redis.call('HDEL', KEYS[1], 'voting')", ['lv:round']],
  ["return redis.call('XADD', KEYS[1], '*', 'a', 'b')", ['lv:round']],
];

/** Scripts the consumer may start (EVAL on the stream) that try what it may not do itself. */
const FORBIDDEN_IN_CONSUMER_SCRIPT: [string, string[]][] = [
  ["return redis.call('XADD', KEYS[1], '*', 'vid', 'forged')", ['lv:votes']],
  ["return redis.call('DEL', KEYS[1])", ['lv:votes']],
  ["return redis.call('SET', KEYS[1], 'x')", ['lv:votes']],
  ["return redis.call('GET', 'lv:idem:x')", ['lv:votes']],
  ["return redis.call('XADD', 'lv:votes', '*', 'vid', 'forged')", []],
  ["return redis.call('HSET', 'lv:round', 'voting', 'open')", ['lv:votes']],
];

const SOURCES = { chart: chartAclFile, launcher: launcherAclFile } as const;
type Source = keyof typeof SOURCES;
const aclLists: Partial<Record<Source, string[]>> = {};

for (const source of Object.keys(SOURCES) as Source[]) {
  describe(`Redis ACL as ${source === 'chart' ? 'the chart renders it' : '`npm start` writes it'}`, () => {
    let redis: RedisServer;
    let admin: Redis;
    const clients: RedisClient[] = [];
    const url = (user: User) => `redis://${user}:${passwords[user]}@127.0.0.1:${redis.options.port}/0`;
    /** A plain client as `user`, with no handshake beyond HELLO/AUTH, for the forbidden table. */
    const plain = async (user: User) => {
      const c = new Redis({ port: redis.options.port, host: '127.0.0.1', username: user, password: passwords[user], enableReadyCheck: false, disableClientInfo: true, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
      clients.push(c);
      c.on('error', () => {});
      await c.connect();
      return c;
    };
    const service = async (user: User, role: 'request' | 'worker' | 'subscriber', name: string, commandTimeoutMs: number | null = 5000) => {
      const c = createRedis({ url: url(user), role, name, logger, commandTimeoutMs }) as Redis;
      clients.push(c);
      await waitReady(c, 10_000);
      return c;
    };
    /** Denials Redis logged for a user since the last ACL LOG RESET. */
    const denials = async (user: string) => {
      const log = (await admin.call('ACL', 'LOG')) as unknown[][];
      return log.map(flatToObject).filter((e) => e.username === user).map((e) => `${e.reason} ${e.object} (${e.context})`);
    };
    /**
     * The handshake sent nothing Redis refused: no CLIENT SETINFO (createRedis turns it off), which
     * Redis 7.0 refuses as unknown (ERR) and 7.2+ would refuse as NOPERM under these ACLs.
     */
    const cleanHandshakes = async () => {
      const errors = ((await admin.call('INFO', 'errorstats')) as string).match(/^errorstat_\w+:count=\d+/gm) ?? [];
      expect(errors).toEqual([]);
    };
    /** Commands run (calls, scripts' included) since the last CONFIG RESETSTAT. */
    const commandsRun = async () => {
      const info = (await admin.call('INFO', 'commandstats')) as string;
      return new Set([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].filter((m) => Number(m[2]) > 0).map((m) => m[1]!));
    };
    const resetObservations = async () => {
      await admin.call('CONFIG', 'RESETSTAT');
      await admin.call('ACL', 'LOG', 'RESET');
    };

    beforeAll(async () => {
      const aclFile = SOURCES[source]();
      redis = new RedisServer({ dir: join(tmp, `redis-${source}`), port: await freePort(), persistence: false, extraArgs: ['--aclfile', aclFile] });
      await redis.start();
      admin = new Redis({ port: redis.options.port, host: '127.0.0.1', username: 'admin', password: passwords.admin, protocol: 2, maxRetriesPerRequest: 1, lazyConnect: true });
      await admin.connect();
      aclLists[source] = ((await admin.call('ACL', 'LIST')) as string[]);
    });
    afterAll(async () => {
      for (const c of clients) c.disconnect();
      admin?.disconnect();
      await redis?.stop();
    });

    it('loads the file with a selector for every command on a key', async () => {
      const server = aclLists[source]!.find((l) => l.startsWith('user server '))!;
      const selectors = [...server.matchAll(/\(([^)]*)\)/g)].map((m) => m[1]!.split(' ').sort().join(' '));
      expect(selectors).toContain('%W~lv:votes %W~lv:{*}votes +xadd -@all resetchannels');
      expect(selectors).toContain('+eval +evalsha -@all resetchannels ~lv:idem:* ~lv:round ~lv:votes ~lv:{*}idem:* ~lv:{*}round ~lv:{*}votes');
      // No key pattern at the root: every command on a key comes from a selector.
      for (const u of ['server', 'consumer', 'probe']) {
        const line = aclLists[source]!.find((l) => l.startsWith(`user ${u} `))!;
        expect(line.replace(/\([^)]*\)/g, ''), u).not.toMatch(/(^| )(%R|%W|%RW)?~/);
      }
    });

    it('lets no connection be the default user, whose rules exist only for replaying the append-only file', async () => {
      expect(aclLists[source]!.find((l) => l.startsWith('user default '))).toMatch(/^user default off (sanitize-payload )?#?[^ ]* ?.*\+@all/);
      const anonymous = new Redis({ port: redis.options.port, host: '127.0.0.1', protocol: 2, enableReadyCheck: false, disableClientInfo: true, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
      clients.push(anonymous);
      anonymous.on('error', () => {});
      await anonymous.connect();
      await expect(anonymous.get('lv:idem:x')).rejects.toThrow(/NOAUTH/);
      await expect(anonymous.call('AUTH', 'default', '')).rejects.toThrow(/WRONGPASS/);
      await expect(anonymous.call('AUTH', 'default', 'anything')).rejects.toThrow(/WRONGPASS/);
      await expect(anonymous.call('HELLO', '3', 'AUTH', 'default', 'anything')).rejects.toThrow(/WRONGPASS/);
      await expect(admin.call('ACL', 'DRYRUN', 'default', 'XADD', 'lv:votes', '*', 'a', 'b')).resolves.toBe('OK');
    });

    let tallies: string[] = [];
    it('runs what the server sends, on its real keys, with no denial; and it sends every command it is granted', async () => {
      await resetObservations();
      // The server's connections, as server/src/main.ts makes them.
      const r = await service('server', 'request', 'server');
      const intakeRedis = await service('server', 'request', 'server:intake', null);
      const sub = await service('server', 'subscriber', 'server:sub');
      await cleanHandshakes();
      // Any metric the code touches is a no-op here.
      const metrics = new Proxy({}, { get: () => ({ inc() {}, set() {}, observe() {}, labels: () => ({ inc() {}, set() {} }) }) }) as ServerMetrics;
      sub.on('message', (_channel: string, message: string) => tallies.push(message));
      expect(await sub.subscribe(keys.tallyChannel)).toBe(1);

      // The round state, written as a host change writes it (the round-state script, which reads
      // INFO replication to stamp the copy), and checked as readiness checks it.
      const state = { round: 1, voting: 'open', results: 'shown', seq: 1 } as const;
      const sharded = shardKeys(PREFIX, 2)[0]!.round;
      const stateCopy = new RoundStateCopy({ redis: r, keys: [keys.round, sharded], rounds: { state: async () => state }, logger });
      expect(await stateCopy.write(state)).toBe(true);
      await stateCopy.restore();
      expect(await stateCopy.usable()).toBe(true);

      // Votes: one script, keyed or not (EVAL on the connection's first call, EVALSHA after, and
      // EVAL again once Redis lost its scripts); a replay refreshes its record (EXPIRE).
      const intake = new VoteIntake({ redis: intakeRedis, shards: shardKeys(PREFIX, null), idempotencyWindowSeconds: 3600, outcomeWaitMs: 5000, stallMs: 5000 });
      expect((await intake.cast('cats', undefined)).kind).toBe('accepted');
      expect(await intake.cast('dogs', 'acl-key-00000001')).toEqual({ kind: 'accepted', id: 'acl-key-00000001' });
      expect(await intake.cast('dogs', 'acl-key-00000001')).toEqual({ kind: 'replayed', id: 'acl-key-00000001' });
      expect(await intake.cast('cats', 'acl-key-00000001')).toEqual({ kind: 'key-reused', id: 'acl-key-00000001' });
      await admin.call('SCRIPT', 'FLUSH');
      expect((await intake.cast('cats', 'acl-key-00000002')).kind).toBe('accepted');
      expect(await admin.xlen(keys.votes)).toBe(3);
      expect(await admin.ttl(keys.idempotency('acl-key-00000001'))).toBeGreaterThan(3000);
      // REDIS_ACK_REPLICAS: the tick's scripts, then one WAIT (no replica here: short, so 504 "outcome
      // unknown"), on a sharded stream's keys (the patterns' {*} twins), which the consumer here does not read.
      const acked = new VoteIntake({ redis: intakeRedis, shards: shardKeys(PREFIX, 2).slice(0, 1), ackReplicas: 1, ackTimeoutMs: 10, idempotencyWindowSeconds: 3600, outcomeWaitMs: 5000, stallMs: 5000 });
      expect((await acked.cast('cats', 'acl-key-00000003')).kind).toBe('unknown');

      // Rate limits through rate-limit-redis: SCRIPT LOAD, then EVALSHA of its increment script
      // (PTTL, SET PX, INCR); after Redis lost its scripts, NOSCRIPT, SCRIPT LOAD and EVALSHA again.
      const limits = createRateLimits({ enabled: true, redis: r, prefix: keys.rateLimit, votesPerMinute: 5, streamsPerMinute: 2, hostFailuresPerMinute: 3, metrics });
      expect(await limits.hostFailures('203.0.113.9')).toEqual({ allowed: true });
      expect(await limits.streams('203.0.113.9')).toEqual({ allowed: true });
      expect(await limits.streams('203.0.113.9')).toEqual({ allowed: true });
      const third = await limits.streams('203.0.113.9');
      expect(third.allowed).toBe(false);
      await admin.call('SCRIPT', 'FLUSH');
      expect(await limits.streams('203.0.113.9')).toMatchObject({ allowed: false });
      expect(await admin.get(`${keys.rateLimit}streams:203.0.113.9`)).toBe('4');
      expect(await admin.pttl(`${keys.rateLimit}streams:203.0.113.9`)).toBeGreaterThan(0);

      // Screens watching: each server's report, summed (expired reports removed), its own removed at the end.
      const watchers = new WatcherCount({ redis: r, key: keys.watchers, instance: 'pod-a', local: () => 3, everyMs: 60_000 });
      await watchers.report();
      await admin.hset(keys.watchers, 'gone', '9:1');
      expect(await watchers.total()).toBe(3);
      await expect.poll(() => admin.hexists(keys.watchers, 'gone')).toBe(0);
      await watchers.stop();

      // A host change announced to every server: PUBLISH here, SPUBLISH on a Cluster (and a
      // Cluster's subscribers SSUBSCRIBE); Redis 7 runs both kinds on one server too.
      await r.publish(keys.tallyChannel, '{"host":"change"}');
      await r.spublish(keys.tallyChannel, '{"host":"sharded"}');
      const ssub = await service('server', 'subscriber', 'server:ssub');
      expect(await ssub.ssubscribe(keys.tallyChannel)).toBe(1);

      // The Redis memory gauges: INFO memory.
      let used = 0;
      const gauges = new Proxy({}, { get: (_t, name) => ({ set: (v: number) => (name === 'redisMemoryUsed' ? (used = v) : 0), inc() {} }) }) as ServerMetrics;
      const stop = sampleRedisMemory(r, gauges, 60_000);
      await expect.poll(() => used, { timeout: 5000 }).toBeGreaterThan(0);
      stop();

      expect(await denials('server')).toEqual([]);
      const ran = await commandsRun();
      for (const c of grantedCommands('server')) expect(ran, `the server is granted ${c} but never sent it`).toContain(c);
    });

    it('runs what the consumer sends, on its real keys, with no denial; and it sends every command it is granted', async () => {
      await resetObservations();
      // The consumer's two connections, as consumer/src/main.ts makes them.
      const r = await service('consumer', 'worker', 'consumer:pod-1');
      const blocking = await service('consumer', 'worker', 'consumer:pod-1:read');
      await cleanHandshakes();
      const stream = new VoteStream(r, keys, 'pod-1');
      await stream.ensureGroup();
      await stream.ensureGroup(); // BUSYGROUP, swallowed
      const fresh = await stream.read(blocking, 10, 100, '>');
      expect(fresh).toHaveLength(3);
      const own = await stream.read(blocking, 10, 0, '0');
      expect(own.map((e) => e.id)).toEqual(fresh.map((e) => e.id));
      const counts = await stream.deliveryCounts(own[0]!.id, own.at(-1)!.id, own.length);
      expect([...counts.values()]).toEqual([2, 2, 2]);

      // A poison entry: copied to the dead-letter stream and acknowledged in one MULTI.
      await stream.deadLetter(own[0]!, 'test', 2);
      expect(await admin.xlen(keys.deadLetter)).toBe(1);
      // Another pod takes over the rest (XAUTOCLAIM) and acknowledges them.
      const other = new VoteStream(r, keys, 'pod-2');
      const claimed = await other.reclaim(0, 10);
      expect(claimed.entries.map((e) => e.id)).toEqual(own.slice(1).map((e) => e.id));
      // Each batch is marked before it runs (a crash leaves the mark), re-delivered entries one by one, and cleared at its end.
      const ids = claimed.entries.map((e) => e.id);
      const range = await other.markRange(ids[0]!, ids.at(-1)!);
      expect(await other.crashesSoFar(ids)).toEqual({ crashes: ids.map(() => 1), ranges: [range] });
      await other.markEntries(ids.map((id) => ({ id, crashes: 1, attempting: false })), [range]);
      // Acknowledged, and their idempotency records go once PostgreSQL holds the votes (the keyed one's was there).
      expect(await admin.exists(keys.idempotency('acl-key-00000002'))).toBe(1);
      expect(await other.settle({ ack: ids, forget: claimed.entries.map((e) => e.fields.vid!), finished: ids })).toBeNull();
      expect(await admin.exists(keys.idempotency('acl-key-00000002'))).toBe(0);
      expect(await admin.hlen(keys.unfinished)).toBe(0);

      const tally: TallyMessage = { round: 1, voting: 'open', results: 'shown', cats: 1, dogs: 1, total: 2, seq: 1, updatedAt: new Date().toISOString() };
      tallies = [];
      await stream.publish(tally);
      await expect.poll(() => tallies.map((t) => JSON.parse(t) as TallyMessage), { timeout: 5000 }).toEqual([tally]);
      // On a Cluster the same message goes out with SPUBLISH.
      await r.spublish(keys.tallyChannel, JSON.stringify(tally));

      expect(await stream.trimAcknowledged()).toBe(2);
      expect(await stream.forgetIdleConsumers(0)).toEqual(['pod-2']);
      expect(await stream.oldestEntryId()).toBe(own.at(-1)!.id);
      expect(await stream.stats()).toEqual({ length: 1, pending: 0, lag: 0 });

      expect(await denials('consumer')).toEqual([]);
      const ran = await commandsRun();
      for (const c of grantedCommands('consumer')) expect(ran, `the consumer is granted ${c} but never sent it`).toContain(c);
    });

    if (source === 'chart') {
      it('lets KEDA\'s scaler read what its lagCount trigger reads: INFO, XINFO GROUPS and XLEN', async () => {
        await resetObservations();
        const k = await plain('scaler');
        expect(await k.info('server')).toMatch(/redis_version:7/);
        expect(await k.call('XINFO', 'GROUPS', keys.votes)).toHaveLength(1);
        expect(await k.xlen(keys.votes)).toBeGreaterThanOrEqual(0);
        expect(await k.xlen('lv:{s0.1632}votes')).toBe(0);
        expect(await denials('scaler')).toEqual([]);
      });
      it('answers PING for the readiness probe', async () => {
        expect(await (await plain('probe')).ping()).toBe('PONG');
      });
    } else {
      it('has no login for the probe user (nothing probes the local stack)', () => {
        const r = run('redis-cli', ['-p', String(redis.options.port), '--no-auth-warning', '--user', 'probe', '--pass', passwords.probe, 'ping'], { env: { PATH: process.env.PATH } });
        expect(r.stdout + r.stderr).toMatch(/WRONGPASS|invalid username-password/i);
      });
    }

    // The local stack has no probe and no KEDA: those users are written switched off there.
    const rows = FORBIDDEN.filter(([user]) => source === 'chart' || (user !== 'probe' && user !== 'scaler'));
    it.each(rows.map((row) => ({ name: row.join(' ').slice(0, 90), row })))('refuses $name with NOPERM', async ({ row: [user, ...command] }) => {
      // A fresh connection each time: a refused SUBSCRIBE or MULTI must not leave state behind.
      const c = await plain(user);
      await expect(c.call(command[0]!, ...command.slice(1))).rejects.toThrow(/^NOPERM /);
      c.disconnect();
    });

    it('refuses commands queued in the consumer\'s MULTI that it may not run itself', async () => {
      const c = await plain('consumer');
      await expect(c.multi().xack(keys.votes, CONSUMER_GROUP, '0-1').xadd(keys.votes, '*', 'vid', 'forged').exec()).rejects.toThrow(/EXECABORT|NOPERM/);
      expect(await admin.xlen(keys.votes)).toBe(1);
    });

    it.each(FORBIDDEN_IN_SCRIPT.map(([lua, k]) => ({ lua, k })))('gives the server nothing more through a script: $lua', async ({ lua, k }) => {
      const c = await plain('server');
      await expect(c.call('EVAL', lua, String(k.length), ...k)).rejects.toThrow(/NOPERM|no permissions|The user executing the script can't/);
    });

    it.each(FORBIDDEN_IN_CONSUMER_SCRIPT.map(([lua, k]) => ({ lua, k })))('gives the consumer nothing more through a script: $lua', async ({ lua, k }) => {
      const c = await plain('consumer');
      await expect(c.call('EVAL', lua, String(k.length), ...k)).rejects.toThrow(/NOPERM|no permissions|The user executing the script can't/);
    });

    it('left the data as the services made it', async () => {
      expect(await admin.xlen(keys.votes)).toBe(1);
      expect(await admin.xlen(keys.deadLetter)).toBe(1);
      expect(await admin.exists(other, 'lv:idem:x', 'lv:rl:x', 'lv:votesx')).toBe(0);
    });
  });
}

describe('the chart\'s and the local stack\'s ACL, as Redis loaded them', () => {
  it('are the same users with the same rules (the probe user is off locally)', () => {
    // Redis lists a user's commands in no fixed order: compare each rule set as a sorted set.
    const rules = (text: string) => text.trim().split(/\s+/).sort().join(' ');
    const normalize = (lines: string[]) => lines.map((l) => {
      const m = /^user (\S+) (?:on|off)(?: #[0-9a-f]{64})* (.*)$/.exec(l)!;
      const selectors = [...m[2]!.matchAll(/\(([^)]*)\)/g)].map((x) => `(${rules(x[1]!)})`);
      return [m[1], rules(m[2]!.replace(/\([^)]*\)/g, ' ')), ...selectors].join(' | ');
    });
    expect(aclLists.chart, 'both loaded').toBeDefined();
    expect(normalize(aclLists.launcher!)).toEqual(normalize(aclLists.chart!));
    // Same passwords, so every user that logs in on both has the same password hash too.
    for (const u of ['server', 'consumer', 'admin']) {
      const hash = (lines: string[]) => / #([0-9a-f]{64}) /.exec(lines.find((l) => l.startsWith(`user ${u} `))!)?.[1];
      expect(hash(aclLists.launcher!), u).toBe(hash(aclLists.chart!));
    }
    expect(aclLists.chart!.find((l) => l.startsWith('user probe '))).toMatch(/^user probe on /);
    expect(aclLists.launcher!.find((l) => l.startsWith('user probe '))).toMatch(/^user probe off /);
  });
});
