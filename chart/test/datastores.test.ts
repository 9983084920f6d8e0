/**
 * The least-privilege setup the chart renders for its bundled Redis and PostgreSQL, tried on real
 * servers: the rendered redis.conf and ACL writer on a private redis-server, and the rendered role
 * script plus the project's real migrations on a private PostgreSQL. Each service user may do what
 * its code does and nothing else.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, freePort } from '@livevote/harness';
import { redisAclLines } from '@livevote/launcher';
import { type K8s, RELEASE, RELEASE_NS, chartDir, parseManifests, render, repoRoot, run, tool } from './lib.ts';

const docs = render([]);
const tmp = mkdtempSync(join(tmpdir(), 'livevote-datastores-'));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(tmp, { recursive: true, force: true });
});

const configMap = (suffix: string): K8s => docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === `lv-livevote-${suffix}`);
const replaceOnce = (text: string, from: string, to: string) => {
  if (!text.includes(from)) throw new Error(`rendered config no longer contains "${from}"`);
  return text.replace(from, to);
};

/** Commands, key patterns and channel patterns of one list of ACL rules. */
function grantsOf(t: string[]) {
  return {
    commands: new Set(t.filter((x) => x.startsWith('+')).map((x) => x.slice(1))),
    keys: new Set(t.filter((x) => /^(%R|%W|%RW)?~/.test(x))),
    channels: new Set(t.filter((x) => x.startsWith('&'))),
  };
}

/** What an ACL rule grants: at the root, and in each (selector), in order. */
function grants(rule: string) {
  const text = rule.replace(/"\s*$/, '');
  const selectors = [...text.matchAll(/\(([^)]*)\)/g)].map((m) => grantsOf(m[1]!.trim().split(/\s+/)));
  return { ...grantsOf(text.replace(/\([^)]*\)/g, ' ').trim().split(/\s+/)), selectors };
}

interface AclKey { pattern: string; access?: string }
interface AclSelector { keys: AclKey[]; commands: string[] }
interface AclUser { name: string; enabled?: boolean; commands?: string[]; keys?: AclKey[]; channels?: string[]; selectors?: AclSelector[] }
/** The one source of the Redis ACL users, read by the chart and by the launcher. */
const aclSource = join(chartDir, 'files', 'redis-acl.json');

/** What the file says a user's rules are, written out independently of both renderers. */
const key = (k: AclKey, prefix: string) => `${{ R: '%R', W: '%W' }[k.access ?? ''] ?? ''}~${k.pattern.replaceAll('{prefix}', prefix)}`;
const expectedRules = (u: AclUser, prefix: string) => [
  ...(u.commands ?? []).map((c) => `+${c}`),
  ...(u.keys ?? []).map((k) => key(k, prefix)),
  ...(u.channels ?? []).map((c) => `&${c.replaceAll('{prefix}', prefix)}`),
  ...(u.selectors ?? []).map((s) => `(${[...s.keys.map((k) => key(k, prefix)), ...s.commands.map((c) => `+${c}`)].join(' ')})`),
].join(' ');

/** The rendered write-acl.sh as user -> rules (after the password, or after "off resetpass"). */
function chartAclRules(script: string) {
  const out = new Map<string, { on: boolean; rules: string }>();
  for (const m of script.matchAll(/^\s*echo "user (\S+) (?:on #\$\(hash "\$\w+"\)|(off) resetpass) (.*)"$/gm)) out.set(m[1]!, { on: !m[2], rules: m[3]! });
  return out;
}

/** The launcher's ACL lines as user -> rules. */
function localAclRules(lines: string[]) {
  const out = new Map<string, { on: boolean; rules: string }>();
  for (const l of lines) {
    const m = /^user (\S+) (?:on >\S+|(off) resetpass) (.*)$/.exec(l);
    if (!m) throw new Error(`unexpected ACL line: ${l}`);
    out.set(m[1]!, { on: !m[2], rules: m[3]! });
  }
  return out;
}

/** Renders a copy of the chart (same release and namespace as lib.ts's render). */
const renderCopy = (dir: string) => run(tool('helm'), ['template', RELEASE, dir, '--namespace', RELEASE_NS]);

describe('bundled Redis: ACL users and persistence', () => {
  const passwords = { server: 'server-pw-0123456789', consumer: 'consumer-pw-0123456789', scaler: 'scaler-pw-0123456789', probe: 'probe-pw-0123456789', admin: 'admin-pw-0123456789' };
  let port = 0;
  let proc: ChildProcess;
  const clients: Redis[] = [];
  const connect = (user?: string, password?: string) => {
    const c = new Redis({ port, host: '127.0.0.1', username: user, password, lazyConnect: true, maxRetriesPerRequest: 1, enableReadyCheck: false, retryStrategy: (n) => (n > 50 ? null : 50) });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const cm = configMap('redis');
    const aclDir = join(tmp, 'redis-acl');
    const dataDir = join(tmp, 'redis-data');
    mkdirSync(aclDir);
    mkdirSync(dataDir);
    const script = replaceOnce(cm.data['write-acl.sh'], '> /acl/users.acl', `> ${aclDir}/users.acl`);
    const env = { PATH: process.env.PATH, REDIS_SERVER_PASSWORD: passwords.server, REDIS_CONSUMER_PASSWORD: passwords.consumer, REDIS_SCALER_PASSWORD: passwords.scaler, REDIS_PROBE_PASSWORD: passwords.probe, REDIS_ADMIN_PASSWORD: passwords.admin };
    const w = run('sh', ['-c', script], { env });
    expect(w.status, w.stderr).toBe(0);
    const acl = readFileSync(join(aclDir, 'users.acl'), 'utf8');
    for (const p of Object.values(passwords)) expect(acl, 'the ACL file holds hashes, not passwords').not.toContain(p);

    port = await freePort();
    let conf: string = cm.data['redis.conf'];
    conf = replaceOnce(conf, 'port 6379', `port ${port}`);
    conf = replaceOnce(conf, 'bind * -::*', 'bind 127.0.0.1');
    conf = replaceOnce(conf, 'dir /data', `dir ${dataDir}`);
    conf = replaceOnce(conf, 'aclfile /acl/users.acl', `aclfile ${aclDir}/users.acl`);
    const confFile = join(tmp, 'redis.conf');
    writeFileSync(confFile, conf);
    proc = spawn('redis-server', [confFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    let log = '';
    const ready = new Promise<void>((resolve, reject) => {
      proc.stdout!.on('data', (d) => {
        log += d;
        if (log.includes('Ready to accept connections')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}) with the rendered config:\n${log}`)));
    });
    cleanups.push(async () => {
      for (const c of clients) c.disconnect();
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      await exited;
    });
    await ready;
    const admin = connect('admin', passwords.admin);
    await admin.connect();
    expect(await admin.ping()).toBe('PONG');
  });

  it('stops the ACL writer, naming the variable, when a password is missing', () => {
    const script = replaceOnce(configMap('redis').data['write-acl.sh'], '> /acl/users.acl', `> ${join(tmp, 'never.acl')}`);
    const env = { PATH: process.env.PATH, REDIS_SERVER_PASSWORD: passwords.server, REDIS_CONSUMER_PASSWORD: passwords.consumer, REDIS_PROBE_PASSWORD: passwords.probe, REDIS_ADMIN_PASSWORD: passwords.admin };
    const w = run('sh', ['-c', script], { env });
    expect(w.status).not.toBe(0);
    expect(w.stderr).toContain('REDIS_SCALER_PASSWORD');
    expect(existsSync(join(tmp, 'never.acl'))).toBe(false);
  });

  it('renders the chart\'s ACL users and the local stack\'s from the one file, chart/files/redis-acl.json', () => {
    const file = JSON.parse(readFileSync(aclSource, 'utf8')) as { users: AclUser[] };
    const chart = chartAclRules(configMap('redis').data['write-acl.sh'] as string);
    const local = localAclRules(redisAclLines('lv:', { redisAdmin: 'a', redisServer: 's', redisConsumer: 'c' }));
    expect([...chart.keys()], 'the chart has exactly the file\'s users, in its order').toEqual(file.users.map((u) => u.name));
    expect([...local.keys()], 'the local stack has exactly the file\'s users, in its order').toEqual(file.users.map((u) => u.name));
    for (const u of file.users) {
      const want = grants(expectedRules(u, 'lv:'));
      expect(chart.get(u.name)!.rules, `chart: ${u.name} starts from nothing`).toMatch(/^resetkeys resetchannels clearselectors -@all( |$)/);
      expect(grants(chart.get(u.name)!.rules), `chart: ${u.name}`).toEqual(want);
      expect(grants(local.get(u.name)!.rules), `local stack: ${u.name}`).toEqual(want);
      // Same text on both sides, so one reading of the file decides both.
      expect(chart.get(u.name)!.rules, u.name).toBe(local.get(u.name)!.rules);
      expect(chart.get(u.name)!.on, `chart: ${u.name} on/off`).toBe(u.enabled !== false);
    }
    expect(chart.get('default')!.on).toBe(false);
    expect(local.get('default')!.on).toBe(false);
    // The readiness-probe user has no password locally (nothing probes there): switched off.
    expect(local.get('probe')!.on).toBe(false);
    for (const u of ['server', 'consumer', 'admin']) expect(local.get(u)!.on, u).toBe(true);
    // The init container gets a password for each user that logs in, and no other.
    const sts = docs.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'lv-livevote-redis');
    const envNames = (sts.spec.template.spec.initContainers[0].env as { name: string }[]).map((x) => x.name);
    expect(envNames).toEqual(file.users.filter((u) => u.enabled !== false).map((u) => `REDIS_${u.name.toUpperCase()}_PASSWORD`));
  });

  it('follows an edit of that file on both sides, and both refuse a field they cannot render', () => {
    const copy = join(tmp, 'chart-copy');
    cpSync(chartDir, copy, { recursive: true, filter: (f) => relative(chartDir, f).split(sep)[0] !== 'test' });
    const original = readFileSync(aclSource, 'utf8');
    const editedFile = join(copy, 'files', 'redis-acl.json');
    const local = () => redisAclLines('lv:', { redisAdmin: 'a', redisServer: 's', redisConsumer: 'c' }, editedFile);
    const edit = (change: (server: AclUser) => void) => {
      const edited = JSON.parse(original) as { users: AclUser[] };
      change(edited.users.find((u) => u.name === 'server')!);
      writeFileSync(editedFile, JSON.stringify(edited));
    };

    edit((server) => {
      server.commands!.push('xinfo|help');
      server.selectors![0]!.commands.push('xlen');
      server.selectors!.push({ keys: [{ pattern: '{prefix}edited:*', access: 'R' }, { pattern: '{prefix}other' }], commands: ['get'] });
    });
    const rendered = parseManifests(renderCopy(copy).stdout).find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'lv-livevote-redis');
    const chartRules = chartAclRules(rendered.data['write-acl.sh']).get('server')!.rules;
    const localRules = localAclRules(local()).get('server')!.rules;
    expect(chartRules).toBe(localRules);
    const g = grants(chartRules);
    expect(g.commands.has('xinfo|help')).toBe(true);
    expect(g.selectors[0]!.commands).toEqual(new Set(['eval', 'evalsha', 'xlen']));
    expect(g.selectors.at(-1)).toEqual({ commands: new Set(['get']), keys: new Set(['%R~lv:edited:*', '~lv:other']), channels: new Set() });

    // Neither side may silently drop what it cannot render, nor render a bad access mode.
    const refusals: [(server: AclUser) => void, RegExp, RegExp][] = [
      [(s) => void ((s.selectors![0]!.keys[0] as AclKey & { flags?: string }).flags = 'x'), /user server: selector 1: key \{prefix\}round: unknown field\(s\) \[flags\]/, /user server: selector 1: key \{prefix\}round: unknown field\(s\) flags/],
      [(s) => void ((s.selectors![1] as AclSelector & { channels?: string[] }).channels = ['x']), /user server: selector 2: unknown field\(s\) \[channels\]/, /user server: selector 2: unknown field\(s\) channels/],
      [(s) => void (s.selectors![0]!.keys[0]!.access = 'X'), /user server: selector 1: key \{prefix\}round: "access" must be/, /user server: selector 1: key \{prefix\}round: "access" must be/],
      [(s) => void (s.selectors![2]!.commands = []), /user server: selector 3: needs "keys" and "commands"/, /user server: selector 3: needs "keys" and "commands"/],
      [(s) => void ((s as AclUser & { grants?: string[] }).grants = []), /user server: unknown field\(s\) \[grants\]/, /user server: unknown field\(s\) grants/],
    ];
    for (const [change, chartError, localError] of refusals) {
      edit(change);
      const r = renderCopy(copy);
      expect(r.status, String(chartError)).not.toBe(0);
      expect(r.stderr).toMatch(chartError);
      expect(local).toThrow(localError);
    }
  });

  it('refuses anyone without a user, and the default user', () => {
    // redis-cli rather than ioredis, which would keep retrying its HELLO handshake.
    const cli = (...args: string[]) => run('redis-cli', ['-p', String(port), '--no-auth-warning', ...args], { env: { PATH: process.env.PATH } });
    expect(cli('ping').stdout).toMatch(/NOAUTH/);
    expect(cli('--user', 'default', '--pass', 'anything', 'ping').stdout + cli('--user', 'default', '--pass', 'anything', 'ping').stderr).toMatch(/WRONGPASS|invalid username-password/i);
    expect(cli('--user', 'server', '--pass', 'not-the-password', 'ping').stdout + cli('--user', 'server', '--pass', 'not-the-password', 'ping').stderr).toMatch(/WRONGPASS|invalid username-password/i);
    expect(cli('--user', 'server', '--pass', passwords.server, 'client', 'setname', 'x').stdout.trim()).toBe('OK');
  });

  it('lets the server add votes, keep idempotency, round-state and rate-limit keys, and announce and listen for tallies; nothing more', async () => {
    const s = connect('server', passwords.server);
    await s.connect();
    expect(await s.hset('lv:round', 'round', '1', 'voting', 'open')).toBe(2);
    expect(await s.eval("return redis.call('XADD', KEYS[2], '*', 'vid', 'v-00000001', 'round', redis.call('HMGET', KEYS[1], 'round')[1])", 2, 'lv:round', 'lv:votes')).toMatch(/^\d+-\d+$/);
    expect(await s.set('lv:idem:v-00000001', 'cats', 'EX', 60)).toBe('OK');
    expect(await s.incr('lv:rl:203.0.113.9')).toBe(1);
    expect(await s.pttl('lv:rl:203.0.113.9')).toBe(-1);
    await expect(s.xadd('other', '*', 'a', 'b')).rejects.toThrow(/NOPERM/);
    await expect(s.get('lv:votes:dead')).rejects.toThrow(/NOPERM/);
    expect(await s.publish('lv:tally', '{}')).toBeGreaterThanOrEqual(0);
    await expect(s.publish('lv:other', '{}')).rejects.toThrow(/NOPERM/);
    await expect(s.del('lv:round')).rejects.toThrow(/NOPERM/);
    await expect(s.flushall()).rejects.toThrow(/NOPERM/);
    await expect(s.call('CONFIG', 'GET', 'appendfsync')).rejects.toThrow(/NOPERM/);
    await expect(s.xreadgroup('GROUP', 'g', 'c', 'STREAMS', 'lv:votes', '>')).rejects.toThrow(/NOPERM/);
    const sub = connect('server', passwords.server);
    await sub.connect();
    expect(await sub.subscribe('lv:tally')).toBe(1);
    await expect(connect('server', passwords.server).connect().then(() => clients.at(-1)!.subscribe('lv:other'))).rejects.toThrow(/NOPERM/);
  });

  it('lets the consumer read the stream in a group, dead-letter, trim and publish tallies; nothing more', async () => {
    const c = connect('consumer', passwords.consumer);
    await c.connect();
    expect(await c.xgroup('CREATE', 'lv:votes', 'tally-writers', '0', 'MKSTREAM')).toBe('OK');
    const read = (await c.xreadgroup('GROUP', 'tally-writers', 'pod-1', 'COUNT', '10', 'STREAMS', 'lv:votes', '>')) as [string, [string, string[]][]][];
    const entryId = read[0]![1][0]![0];
    const tx = await c.multi().xadd('lv:votes:dead', '*', 'source_id', entryId).xack('lv:votes', 'tally-writers', entryId).exec();
    expect(tx?.every(([err]) => err === null)).toBe(true);
    expect(await c.call('XAUTOCLAIM', 'lv:votes', 'tally-writers', 'pod-2', '0', '0-0')).toBeDefined();
    expect(await c.call('XINFO', 'GROUPS', 'lv:votes')).toHaveLength(1);
    expect(await c.call('XTRIM', 'lv:votes', 'MINID', '0-1')).toBe(0);
    expect(await c.publish('lv:tally', '{"cats":1}')).toBeGreaterThanOrEqual(0);
    await expect(c.get('lv:idem:v-00000001')).rejects.toThrow(/NOPERM/);
    await expect(c.xadd('lv:other', '*', 'a', 'b')).rejects.toThrow(/NOPERM/);
    await expect(c.del('lv:votes')).rejects.toThrow(/NOPERM/);
    await expect(c.flushall()).rejects.toThrow(/NOPERM/);
  });

  it('answers the readiness probe as the probe user, who can do nothing else', async () => {
    const sts = docs.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'lv-livevote-redis');
    const [, , probe] = sts.spec.template.spec.containers[0].readinessProbe.exec.command as string[];
    const cmd = replaceOnce(probe!, 'redis-cli ', `redis-cli -p ${port} `);
    expect(run('sh', ['-c', cmd], { env: { PATH: process.env.PATH, REDISCLI_AUTH: passwords.probe } }).status).toBe(0);
    expect(run('sh', ['-c', cmd], { env: { PATH: process.env.PATH, REDISCLI_AUTH: 'wrong-password' } }).status).not.toBe(0);
    const p = connect('probe', passwords.probe);
    await p.connect();
    await expect(p.get('lv:idem:v-00000001')).rejects.toThrow(/NOPERM/);
  });

  it('persists with AOF, fsync on every write, and never evicts', async () => {
    const a = connect('admin', passwords.admin);
    await a.connect();
    expect(await a.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    expect(await a.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
    expect(await a.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
  });
});

describe('bundled PostgreSQL: one role per service, and the real migrations', () => {
  const pw = { superuser: 'super-pw-0123456789', migrator: 'migrator-pw-0123456789', server: 'server-pw-0123456789', consumer: 'consumer-pw-0123456789' };
  let port = 0;
  const url = (role: string, password: string) => `postgres://${role}:${password}@127.0.0.1:${port}/livevote`;
  async function as<T>(role: string, password: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client({ connectionString: url(role, password) });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    port = await freePort();
    const db = await startEmbeddedPostgres({ dir: join(tmp, 'pg'), port, password: pw.superuser, log: () => {} });
    cleanups.push(() => db.stop());
    const script = configMap('postgresql-init').data['10-livevote-roles.sh'] as string;
    const r = run('sh', ['-c', script], {
      env: {
        PATH: process.env.PATH, POSTGRES_USER: 'postgres', PGHOST: '127.0.0.1', PGPORT: String(port), PGPASSWORD: pw.superuser,
        LIVEVOTE_MIGRATOR_PASSWORD: pw.migrator, LIVEVOTE_SERVER_PASSWORD: pw.server, LIVEVOTE_CONSUMER_PASSWORD: pw.consumer,
      },
    });
    expect(r.status, r.stderr).toBe(0);
    // The hook Job's command, as the migrator role.
    const m = run(join(repoRoot, 'node_modules', '.bin', 'node'), ['consumer/src/migrate.ts'], {
      cwd: repoRoot, env: { PATH: process.env.PATH, DATABASE_URL: url('livevote_migrator', pw.migrator) },
    });
    expect(m.status, m.stdout + m.stderr).toBe(0);
  }, 120_000);

  it('makes the migrator the owner of the database and its tables', async () => {
    const owners = await as('livevote_migrator', pw.migrator, (c) => c.query(
      "SELECT pg_get_userbyid(d.datdba) AS db, (SELECT tableowner FROM pg_tables WHERE tablename = 'tallies') AS t FROM pg_database d WHERE datname = 'livevote'",
    ));
    expect(owners.rows[0]).toEqual({ db: 'livevote_migrator', t: 'livevote_migrator' });
  });

  it('lets the server read the tallies and vote status, write the rounds and move the seq, and nothing else', async () => {
    await as('livevote_server', pw.server, async (c) => {
      expect((await c.query('SELECT round, cats, dogs, seq FROM current_round')).rowCount).toBe(1);
      expect((await c.query('SELECT vid, seq, round FROM applied_votes LIMIT 1')).rowCount).toBe(0);
      await c.query('BEGIN');
      await c.query('UPDATE tallies SET seq = seq + 1, updated_at = now() WHERE id');
      await c.query("INSERT INTO rounds (round, changed_seq) SELECT max(round) + 1, 1 FROM rounds");
      await c.query("UPDATE rounds SET voting = 'closed', closed_at = now() WHERE round = 1");
      await c.query('ROLLBACK');
      await expect(c.query('UPDATE round_tallies SET cats = cats + 1')).rejects.toThrow(/permission denied/);
      await expect(c.query('UPDATE tally_shards SET seq = seq + 1')).rejects.toThrow(/permission denied/);
      await expect(c.query('DELETE FROM rounds')).rejects.toThrow(/permission denied/);
      await expect(c.query("INSERT INTO applied_votes (vid, option, seq) VALUES ('x-00000001', 'cats', 1)")).rejects.toThrow(/permission denied/);
      await expect(c.query('CREATE TABLE s (id int)')).rejects.toThrow(/permission denied/);
    });
  });

  it('lets the consumer count votes and prune, and not change the schema', async () => {
    await as('livevote_consumer', pw.consumer, async (c) => {
      await c.query('BEGIN');
      await c.query("INSERT INTO tally_shards AS t (shard, seq) VALUES (0, 1) ON CONFLICT (shard) DO UPDATE SET seq = t.seq + 1, updated_at = now()");
      await c.query("INSERT INTO applied_votes (vid, option, seq, round) VALUES ('x-00000001', 'cats', 1, 1) ON CONFLICT DO NOTHING RETURNING vid");
      await c.query('INSERT INTO round_tallies AS t (round, shard, cats, dogs) VALUES (1, 0, 1, 0) ON CONFLICT (round, shard) DO UPDATE SET cats = t.cats + 1');
      await c.query('SELECT round, voting, results, cats, dogs, seq FROM current_round');
      await c.query("DELETE FROM applied_votes WHERE applied_at < now() - interval '1 day'");
      await c.query('COMMIT');
      await expect(c.query('UPDATE tallies SET seq = seq + 1')).rejects.toThrow(/permission denied/);
      await expect(c.query("UPDATE rounds SET voting = 'closed'")).rejects.toThrow(/permission denied/);
      await expect(c.query('DROP TABLE applied_votes')).rejects.toThrow(/must be owner|permission denied/);
      await expect(c.query('CREATE TABLE s (id int)')).rejects.toThrow(/permission denied/);
    });
  });

  it('checks passwords', async () => {
    await expect(as('livevote_server', 'not-the-password', async () => 0)).rejects.toThrow(/password authentication failed/);
  });
});
