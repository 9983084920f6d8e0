import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import YAML from 'yaml';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, redisServerAvailable } from '@livevote/harness';
import { loadConfig as loadServerConfig } from '../server/src/config.ts';
import { loadConfig as loadConsumerConfig } from '../consumer/src/config.ts';
import { readRedisAcl, redisAclRules } from '../launcher/src/least-privilege.ts';
import { writeCredentials } from '../compose/credentials.ts';

// compose.yaml checked without a Docker engine (there is none here): the Compose Specification's
// JSON schema, the files and paths it names, its least privilege from the same sources as the
// chart and `npm start`, and its environment through each service's own config validation.
// Not checked: that the images build and the containers start (see the README).

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (p: string) => readFileSync(path.join(root, p), 'utf8');

interface Mount {
  type?: string;
  source?: string;
  target: string;
  read_only?: boolean;
  volume?: { subpath?: string };
}
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: (string | Mount)[];
  user?: string;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  ports?: string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

/** Values for the `${VAR}` placeholders a user may set; `${VAR:-default}` takes the default otherwise. */
const SAMPLE: Record<string, string> = {};

/** Compose's interpolation: `$$`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`. */
function interpolate(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (m, name: string | undefined, op: string | undefined, arg: string | undefined) => {
    if (m === '$$') return '$';
    const value = vars[name!];
    if (op === ':-') return value || arg!;
    if (op === '-') return value ?? arg!;
    if (op === ':?' || op === '?') {
      if (!value) throw new Error(`\${${name}} is required: ${arg}`);
      return value;
    }
    if (value === undefined) throw new Error(`\${${name}} has no default and no sample value`);
    return value;
  });
}

const rawText = read('compose.yaml');
const compose = YAML.parse(interpolate(rawText, SAMPLE), { merge: true }) as Compose;
const services = compose.services;
const mounts = (s: Service): Mount[] =>
  (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return v;
    const [source, target, mode] = v.split(':') as [string, string, string?];
    return { type: source.startsWith('.') || source.startsWith('/') ? 'bind' : 'volume', source, target, read_only: mode === 'ro' };
  });

let tmp: string | undefined;
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});
/** What the credentials service writes, here into a temporary directory. */
function credentials(): string {
  if (tmp) return tmp;
  tmp = mkdtempSync(path.join(tmpdir(), 'lv-compose-'));
  writeCredentials({ dir: tmp, redisPrefix: services.credentials!.environment!.REDIS_PREFIX! });
  return tmp;
}
/** The `--env-file` a service's command names, read from the credentials subpath it mounts. */
function envFileOf(name: string): Record<string, string> {
  const s = services[name]!;
  const flag = s.command!.find((a) => a.startsWith('--env-file='))!;
  const file = flag.slice('--env-file='.length);
  const m = mounts(s).find((v) => v.source === 'credentials' && file.startsWith(`${v.target}/`))!;
  expect(m, `${name} mounts the credentials holding ${file}`).toBeDefined();
  return parseEnv(readFileSync(path.join(credentials(), m.volume!.subpath!, file.slice(m.target.length + 1)), 'utf8')) as Record<string, string>;
}

describe('compose.yaml', () => {
  it('is valid against the Compose Specification JSON schema', () => {
    // dclint ships the compose-spec repository's schema/compose-spec.json.
    // (Not in its "exports": found beside the package's own entry point.)
    const main = createRequire(import.meta.url).resolve('dclint');
    const pkgDir = path.resolve(path.dirname(main), main.includes(`${path.sep}dist${path.sep}`) ? '..' : '.');
    const schema = JSON.parse(readFileSync(path.join(pkgDir, 'schemas/compose.schema.json'), 'utf8')) as Record<string, unknown>;
    expect(schema.title).toBe('Compose Specification');
    // Draft 7, named by its https address, which Ajv knows by the http one.
    expect(schema.$schema).toMatch(/^https?:\/\/json-schema\.org\/draft-07\/schema#?$/);
    const ajv = new Ajv({ allErrors: true, strict: false });
    const check = ajv.compile({ ...schema, $schema: 'http://json-schema.org/draft-07/schema#' });
    expect(check(compose), ajv.errorsText(check.errors)).toBe(true);
    // The validator does reject: an unknown service field.
    expect(check({ services: { x: { image: 'a', imagee: 'b' } } })).toBe(false);
  });

  it('builds from the repository’s own Dockerfiles, and every file, command and path it names exists', () => {
    const built = Object.entries(services).filter(([, s]) => s.build);
    expect(built.map(([, s]) => s.build!.dockerfile).sort()).toEqual(['client/Dockerfile', 'consumer/Dockerfile', 'consumer/Dockerfile', 'consumer/Dockerfile', 'server/Dockerfile']);
    for (const [name, s] of built) {
      expect(s.build!.context, name).toBe('.');
      const dockerfile = read(s.build!.dockerfile);
      expect(s.image, `${name} names the image it builds`).toMatch(/^livevote\/(server|consumer|client):/);
      // A Node.js script it runs is in the repository and copied into the image.
      for (const arg of s.command ?? []) {
        if (!arg.endsWith('.ts')) continue;
        const bound = mounts(s).find((m) => m.type === 'bind' && m.target === `/app/${arg}`);
        expect(existsSync(path.join(root, bound ? bound.source! : arg)), `${name}: ${arg}`).toBe(true);
        if (!bound) expect(dockerfile, `${s.build!.dockerfile} copies ${arg}`).toMatch(new RegExp(`^COPY ${path.dirname(arg)} ${path.dirname(arg)}$`, 'm'));
      }
      expect(dockerfile).toMatch(/^ENTRYPOINT \["\/nodejs\/bin\/node"\]$/m);
    }
    for (const [name, s] of Object.entries(services)) {
      for (const m of mounts(s)) {
        if (m.type === 'bind') {
          expect(existsSync(path.join(root, m.source!)), `${name}: ${m.source}`).toBe(true);
          expect(m.read_only, `${name}: ${m.source} read-only`).toBe(true);
          // Into the image's /app: the very path the repository has it at.
          if (m.target.startsWith('/app/')) expect(m.target).toBe(`/app/${path.normalize(m.source!)}`);
        } else expect(Object.keys(compose.volumes), `${name}: volume ${m.source}`).toContain(m.source);
      }
    }
    expect(read('compose/nginx.conf')).toMatch(/location \/api\/ \{\s+proxy_pass \$api;/);
  });

  it('waits for what it needs: health checks, and depends_on with conditions', () => {
    const oneShots = ['credentials', 'migrations'];
    for (const [name, s] of Object.entries(services)) {
      if (oneShots.includes(name)) expect(s.restart, name).toBe('no');
      else expect(s.healthcheck?.test?.length, `${name} has a health check`).toBeGreaterThan(0);
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
        expect(condition).toBe(oneShots.includes(dep) ? 'service_completed_successfully' : 'service_healthy');
      }
    }
    for (const name of ['server', 'consumer']) expect(Object.keys(services[name]!.depends_on!).sort()).toEqual(['migrations', 'postgresql', 'redis']);
    expect(services.migrations!.depends_on).toHaveProperty('postgresql');
    for (const name of ['redis', 'postgresql', 'migrations']) expect(services[name]!.depends_on).toHaveProperty('credentials');
  });

  it('runs every container as a non-root user on a read-only root filesystem, without capabilities; data in named volumes', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.user, name).toMatch(/^[1-9]\d*:[1-9]\d*$/);
      expect(s.read_only, name).toBe(true);
      expect(s.cap_drop, name).toEqual(['ALL']);
      expect(s.security_opt, name).toContain('no-new-privileges:true');
    }
    const target = (name: string, dir: string) => mounts(services[name]!).find((m) => m.target === dir);
    expect(target('redis', '/data')).toMatchObject({ type: 'volume', source: 'redis-data' });
    expect(target('postgresql', '/var/lib/postgresql/data')).toMatchObject({ type: 'volume', source: 'postgres-data' });
  });

  it('holds no secret: passwords are generated into the credentials volume, each service mounting only its own part', () => {
    expect(rawText).not.toMatch(/(redis|postgres(ql)?):\/\/[^/\s]*:[^@\s]*@/);
    for (const [name, s] of Object.entries(services))
      for (const [k, v] of Object.entries(s.environment ?? {})) if (/PASSWORD|SECRET|TOKEN/.test(k)) expect(`${k}=${v}`, name).toMatch(/_FILE=\/run\//);
    const subpaths = Object.entries(services).flatMap(([name, s]) => mounts(s).filter((m) => m.source === 'credentials' && name !== 'credentials').map((m) => [name, m.volume?.subpath, m.read_only]));
    expect(subpaths.sort()).toEqual([
      ['consumer', 'consumer', true],
      ['migrations', 'migrations', true],
      ['postgresql', 'postgresql', true],
      ['redis', 'redis', true],
      ['server', 'server', true],
    ]);
    // The generator's home is where the image's nonroot user may write.
    expect(mounts(services.credentials!).find((m) => m.source === 'credentials')?.target).toBe('/home/nonroot');
    const dir = credentials();
    expect(statSync(path.join(dir, 'store')).mode & 0o077).toBe(0);
    const first = readFileSync(path.join(dir, 'server/env'), 'utf8');
    expect(writeCredentials({ dir }), 'a second start keeps the passwords').toEqual([]);
    expect(readFileSync(path.join(dir, 'server/env'), 'utf8')).toBe(first);
  });

  it('gives each service its own PostgreSQL role and Redis user, as the chart does', () => {
    const who = (name: string) => {
      const env = envFileOf(name);
      return [env.DATABASE_URL && new URL(env.DATABASE_URL).username, env.REDIS_URL && new URL(env.REDIS_URL).username];
    };
    expect(who('server')).toEqual(['livevote_server', 'server']);
    expect(who('consumer')).toEqual(['livevote_consumer', 'consumer']);
    expect(who('migrations')).toEqual(['livevote_migrator', undefined]);
    for (const name of ['server', 'consumer', 'migrations']) expect(new URL(envFileOf(name).DATABASE_URL!).host).toBe('postgresql:5432');
    for (const name of ['server', 'consumer']) expect(new URL(envFileOf(name).REDIS_URL!).host).toBe('redis:6379');
  });

  it('renders the Redis ACL from chart/files/redis-acl.json with the shared renderer, passwords hashed', () => {
    const dir = credentials();
    const prefix = services.credentials!.environment!.REDIS_PREFIX!;
    const lines = readFileSync(path.join(dir, 'redis/users.acl'), 'utf8').trim().split('\n');
    const users = readRedisAcl();
    expect(lines).toHaveLength(users.length);
    users.forEach((u, i) => {
      const rules = redisAclRules(u, prefix);
      if (!u.enabled) return expect(lines[i]).toBe(`user ${u.name} off resetpass ${rules}`);
      const pw = readFileSync(path.join(dir, 'store', `redis-${u.name}`), 'utf8');
      expect(lines[i]).toBe(`user ${u.name} on #${createHash('sha256').update(pw).digest('hex')} ${rules}`);
    });
    expect(lines.join('\n')).not.toContain('>');
    // Every service and the health check find the prefix the ACL was rendered for.
    for (const name of ['server', 'consumer']) expect(services[name]!.environment!.REDIS_PREFIX).toBe(prefix);
    expect(services.redis!.healthcheck!.test.join(' ')).toContain('--user probe');
  });

  it('runs Redis with AOF appendfsync always and the ACL file where the credentials are mounted', () => {
    const conf = read('compose/redis.conf');
    expect(conf).toMatch(/^appendonly yes$/m);
    expect(conf).toMatch(/^appendfsync always$/m);
    expect(conf).toMatch(/^maxmemory-policy noeviction$/m);
    const aclfile = /^aclfile (\S+)$/m.exec(conf)![1]!;
    const m = mounts(services.redis!).find((v) => v.source === 'credentials')!;
    expect(aclfile).toBe(`${m.target}/users.acl`);
    expect(services.redis!.command).toEqual(['redis-server', mounts(services.redis!).find((v) => v.source === './compose/redis.conf')!.target]);
  });

  it.runIf(redisServerAvailable())('a real redis-server loads that configuration and lets each user do only its own part', async () => {
    const dir = credentials();
    const port = await freePort();
    // The file itself, with only where it keeps its data and finds its ACL file moved to this
    // machine's temporary directory (Redis changes into `dir` as it reads the line), and its port.
    const conf = read('compose/redis.conf')
      .replace(/^dir .*$/m, `dir ${dir}`)
      .replace(/^aclfile .*$/m, `aclfile ${path.join(dir, 'redis/users.acl')}`);
    writeFileSync(path.join(dir, 'redis.conf'), conf);
    const proc = spawn('redis-server', [path.join(dir, 'redis.conf'), '--port', String(port), '--bind', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise((r) => proc.once('exit', r));
    const connect = (user: string, pw: string) => new Redis({ port, host: '127.0.0.1', username: user, password: pw, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      const pw = (u: string) => readFileSync(path.join(dir, 'store', `redis-${u}`), 'utf8');
      let probe: Redis | undefined;
      let up = false;
      for (let i = 0; i < 100 && !up && proc.exitCode === null; i++) {
        probe = connect('probe', readFileSync(path.join(dir, 'redis/probe-password'), 'utf8'));
        probe.on('error', () => {});
        up = await probe.connect().then(() => true, () => false);
        if (!up) {
          probe.disconnect();
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      expect(up, `redis-server with compose/redis.conf: ${log}`).toBe(true);
      expect(await probe!.ping()).toBe('PONG');
      await expect(probe!.get('lv:votes')).rejects.toThrow(/NOPERM/);
      probe!.disconnect();
      const server = connect('server', pw('server'));
      await server.connect();
      expect(await server.xadd('lv:votes', '*', 'vid', 'compose-test-1', 'option', 'cats', 'ts', '1')).toMatch(/^\d+-\d+$/);
      await expect(server.call('xrange', 'lv:votes', '-', '+')).rejects.toThrow(/NOPERM/);
      await expect(server.flushall()).rejects.toThrow(/NOPERM/);
      server.disconnect();
      const nobody = connect('default', '');
      nobody.on('error', () => {});
      await expect(nobody.connect().then(() => nobody.ping())).rejects.toThrow();
      nobody.disconnect();
    } finally {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    }
  });

  it('creates the PostgreSQL roles with the chart’s own SQL', () => {
    const sql = (text: string) =>
      /<<'SQL'\n([^]*?)\n\s*SQL\n/.exec(text)![1]!
        .split('\n')
        .map((l) => l.trim())
        .join('\n');
    expect(sql(read('compose/postgres-init.sh'))).toBe(sql(read('chart/templates/postgresql.yaml')));
    const pg = services.postgresql!;
    const init = mounts(pg).find((m) => m.source === './compose/postgres-init.sh')!;
    expect(init.target).toMatch(/^\/docker-entrypoint-initdb\.d\/[^/]+\.sh$/);
    const creds = mounts(pg).find((m) => m.source === 'credentials')!;
    const files = [...read('compose/postgres-init.sh').matchAll(/\$\(cat ([^)]+)\)/g)].map((m) => m[1]!);
    expect(files).toHaveLength(3);
    for (const f of [...files, pg.environment!.POSTGRES_PASSWORD_FILE!]) {
      expect(f.startsWith(`${creds.target}/`), f).toBe(true);
      expect(existsSync(path.join(credentials(), creds.volume!.subpath!, f.slice(creds.target.length + 1))), f).toBe(true);
    }
  });

  it('uses the chart’s Redis and PostgreSQL images', () => {
    const values = YAML.parse(read('chart/values.yaml')) as Record<string, { image: { repository: string; tag: string } }>;
    expect(services.redis!.image).toBe(`${values.redis!.image.repository}:${values.redis!.image.tag}`);
    expect(services.postgresql!.image).toBe(`${values.postgresql!.image.repository}:${values.postgresql!.image.tag}`);
  });

  it('passes each service’s own configuration validation', () => {
    const env = (name: string) => ({ ...services[name]!.environment, ...envFileOf(name) });
    const server = loadServerConfig(env('server'));
    expect(server).toMatchObject({ PORT: 3000, TRUST_PROXY: 1, REDIS_PREFIX: 'lv:' });
    // The host token is generated like the passwords, into the server's env file only.
    expect(server.HOST_TOKEN).toMatch(/^[A-Za-z0-9_-]{32}$/);
    for (const other of ['consumer', 'migrations']) expect(envFileOf(other).HOST_TOKEN, other).toBeUndefined();
    const consumer = loadConsumerConfig(env('consumer'));
    expect(consumer).toMatchObject({ PORT: 3001, REDIS_PREFIX: 'lv:' });
    // The migrations need a DATABASE_URL only (consumer/src/migrate.ts).
    expect(new URL(envFileOf('migrations').DATABASE_URL!).protocol).toBe('postgres:');
    // The health checks ask the ports the services listen on.
    expect(services.server!.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${server.PORT}/readyz`);
    expect(services.consumer!.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${consumer.PORT}/readyz`);
    expect(services.client!.environment!.API_URL).toBe(`http://server:${server.PORT}`);
    expect(read('compose/nginx.conf')).toContain(`http://server:${server.PORT}`);
    // The server's metrics stay in its container: the ops port is on loopback, neither published nor proxied.
    expect(server.OPS_PORT).not.toBe(server.PORT);
    expect(server.OPS_HOST).toBe('127.0.0.1');
    expect(services.server!.ports).toBeUndefined();
    expect(read('compose/nginx.conf')).not.toContain(`:${server.OPS_PORT}`);
  });
});
