import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export interface Credentials {
  pgAdmin: string;
  pgServer: string;
  pgConsumer: string;
  redisAdmin: string;
  redisServer: string;
  redisConsumer: string;
}

/**
 * Login roles for the local default, mirroring the Helm chart: the server may only read, the
 * consumer may only write what it writes; the migrations (run as the owner) grant the rights.
 */
export async function provisionPostgresRoles(adminUrl: string, creds: Credentials): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    for (const [role, password] of [
      ['livevote_server', creds.pgServer],
      ['livevote_consumer', creds.pgConsumer],
    ] as const) {
      const { rowCount } = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      const lit = c.escapeLiteral(password);
      await c.query(rowCount ? `ALTER ROLE ${role} WITH LOGIN PASSWORD ${lit}` : `CREATE ROLE ${role} WITH LOGIN PASSWORD ${lit}`);
    }
  } finally {
    await c.end();
  }
}

/** The Redis ACL users, shared with the Helm chart (its templates/redis.yaml reads the same file). */
export const REDIS_ACL_FILE = fileURLToPath(new URL('../../chart/files/redis-acl.json', import.meta.url));

export interface RedisAclKey {
  /** Key pattern; "{prefix}" stands for the key prefix. */
  pattern: string;
}

export interface RedisAclUser {
  name: string;
  /** false: the user cannot log in at all (the default user). Defaults to true. */
  enabled?: boolean;
  commands?: string[];
  keys?: RedisAclKey[];
  channels?: string[];
}

const USER_FIELDS = new Set(['name', 'enabled', 'commands', 'keys', 'channels']);
const KEY_FIELDS = new Set(['pattern']);

/**
 * Reads and checks the ACL file. A field this code does not render (such as a Redis 7 key
 * selector not supported yet) is an error rather than something silently left out.
 */
export function readRedisAcl(file: string = REDIS_ACL_FILE): RedisAclUser[] {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { users?: unknown };
  if (!Array.isArray(doc.users)) throw new Error(`${file}: no "users" list`);
  const strings = (v: unknown, what: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`${file}: ${what} must be a list of strings`);
    return v as string[];
  };
  return doc.users.map((raw: Record<string, unknown>) => {
    const name = raw.name;
    if (typeof name !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(name)) throw new Error(`${file}: a user without a valid name`);
    const unknown = Object.keys(raw).filter((k) => !USER_FIELDS.has(k));
    if (unknown.length) throw new Error(`${file}: user ${name}: unknown field(s) ${unknown.sort().join(', ')}`);
    if (raw.enabled !== undefined && typeof raw.enabled !== 'boolean') throw new Error(`${file}: user ${name}: "enabled" must be true or false`);
    const keys = (raw.keys ?? []) as Record<string, unknown>[];
    if (!Array.isArray(keys)) throw new Error(`${file}: user ${name}: "keys" must be a list`);
    for (const k of keys) {
      const extra = Object.keys(k).filter((f) => !KEY_FIELDS.has(f));
      if (extra.length) throw new Error(`${file}: user ${name}: key ${String(k.pattern)}: unknown field(s) ${extra.sort().join(', ')}`);
      if (typeof k.pattern !== 'string') throw new Error(`${file}: user ${name}: a key without a "pattern"`);
    }
    return {
      name,
      enabled: raw.enabled !== false,
      commands: strings(raw.commands, `user ${name}: "commands"`),
      keys: keys.map((k) => ({ pattern: k.pattern as string })),
      channels: strings(raw.channels, `user ${name}: "channels"`),
    };
  });
}

/** A user's rules after its name, state and password; the same text as the chart's livevote.redisAclRules. */
export function redisAclRules(user: RedisAclUser, prefix: string): string {
  const p = (s: string) => s.replaceAll('{prefix}', prefix);
  return [
    'resetkeys', 'resetchannels', '-@all',
    ...(user.commands ?? []).map((c) => `+${c}`),
    ...(user.keys ?? []).map((k) => `~${p(k.pattern)}`),
    ...(user.channels ?? []).map((c) => `&${p(c)}`),
  ].join(' ');
}

/**
 * Redis ACL file lines for the local stack, from chart/files/redis-acl.json: each service may run
 * only the commands it sends, on its own keys and the tally channel. The default user is off;
 * `admin` exists for operators. A user with no password here (the chart's readiness-probe user)
 * is written switched off, so nobody can log in as it.
 */
export function redisAclLines(
  prefix: string,
  creds: Pick<Credentials, 'redisAdmin' | 'redisServer' | 'redisConsumer'>,
  file: string = REDIS_ACL_FILE,
): string[] {
  const passwords: Record<string, string> = { admin: creds.redisAdmin, server: creds.redisServer, consumer: creds.redisConsumer };
  return readRedisAcl(file).map((u) => {
    const password = passwords[u.name];
    return u.enabled && password !== undefined
      ? `user ${u.name} on >${password} ${redisAclRules(u, prefix)}`
      : `user ${u.name} off resetpass ${redisAclRules(u, prefix)}`;
  });
}
