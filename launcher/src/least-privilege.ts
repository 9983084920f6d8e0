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
  /** The server's HOST_TOKEN (24 characters). */
  hostToken: string;
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
  /** What the commands may do with the key (Redis 7 `%R~`, `%W~`); defaults to both, `~`. */
  access?: 'R' | 'W' | 'RW';
}

/** A Redis 7 selector: these commands, each with all of its keys matching these patterns. */
export interface RedisAclSelector {
  keys: RedisAclKey[];
  commands: string[];
}

export interface RedisAclUser {
  name: string;
  /** false: the user cannot log in at all (the default user). Defaults to true. */
  enabled?: boolean;
  /** Root permissions: commands, key patterns and channels. */
  commands?: string[];
  keys?: RedisAclKey[];
  channels?: string[];
  /** Further permissions, each its own command list on its own keys. */
  selectors?: RedisAclSelector[];
}

// "$comment" documents the file and is not rendered.
const USER_FIELDS = new Set(['$comment', 'name', 'enabled', 'commands', 'keys', 'channels', 'selectors']);
const SELECTOR_FIELDS = new Set(['$comment', 'keys', 'commands']);
const KEY_FIELDS = new Set(['pattern', 'access']);
const ACCESS = new Set(['R', 'W', 'RW']);

/**
 * Reads and checks the ACL file. A field this code does not render is an error rather than
 * something silently left out; the chart's livevote.redisAclUsers checks the same.
 */
export function readRedisAcl(file: string = REDIS_ACL_FILE): RedisAclUser[] {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { users?: unknown };
  if (!Array.isArray(doc.users)) throw new Error(`${file}: no "users" list`);
  const strings = (v: unknown, what: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`${file}: ${what} must be a list of strings`);
    return v as string[];
  };
  const unknownFields = (o: Record<string, unknown>, known: Set<string>) => Object.keys(o).filter((k) => !known.has(k)).sort();
  const readKeys = (v: unknown, where: string): RedisAclKey[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new Error(`${file}: ${where}: "keys" must be a list`);
    return (v as Record<string, unknown>[]).map((k) => {
      const extra = unknownFields(k, KEY_FIELDS);
      if (extra.length) throw new Error(`${file}: ${where}: key ${String(k.pattern)}: unknown field(s) ${extra.join(', ')}`);
      if (typeof k.pattern !== 'string' || k.pattern === '') throw new Error(`${file}: ${where}: a key without a "pattern"`);
      if (k.access !== undefined && !ACCESS.has(k.access as string)) throw new Error(`${file}: ${where}: key ${k.pattern}: "access" must be "R", "W" or "RW"`);
      return k.access === undefined ? { pattern: k.pattern } : { pattern: k.pattern, access: k.access as RedisAclKey['access'] };
    });
  };
  return doc.users.map((raw: Record<string, unknown>) => {
    const name = raw.name;
    if (typeof name !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(name)) throw new Error(`${file}: a user without a valid name`);
    const unknown = unknownFields(raw, USER_FIELDS);
    if (unknown.length) throw new Error(`${file}: user ${name}: unknown field(s) ${unknown.join(', ')}`);
    if (raw.enabled !== undefined && typeof raw.enabled !== 'boolean') throw new Error(`${file}: user ${name}: "enabled" must be true or false`);
    const selectors = raw.selectors ?? [];
    if (!Array.isArray(selectors)) throw new Error(`${file}: user ${name}: "selectors" must be a list`);
    return {
      name,
      enabled: raw.enabled !== false,
      commands: strings(raw.commands, `user ${name}: "commands"`),
      keys: readKeys(raw.keys, `user ${name}`),
      channels: strings(raw.channels, `user ${name}: "channels"`),
      selectors: (selectors as Record<string, unknown>[]).map((s, i) => {
        const where = `user ${name}: selector ${i + 1}`;
        const extra = unknownFields(s, SELECTOR_FIELDS);
        if (extra.length) throw new Error(`${file}: ${where}: unknown field(s) ${extra.join(', ')}`);
        const sel = { keys: readKeys(s.keys, where), commands: strings(s.commands, `${where}: "commands"`) };
        if (!sel.keys.length || !sel.commands.length) throw new Error(`${file}: ${where}: needs "keys" and "commands"`);
        return sel;
      }),
    };
  });
}

/** One key pattern as an ACL rule: `~p`, `%R~p` or `%W~p`. */
const keyRule = (k: RedisAclKey, prefix: string) => `${k.access === 'R' || k.access === 'W' ? `%${k.access}` : ''}~${k.pattern.replaceAll('{prefix}', prefix)}`;

/** A user's rules after its name, state and password; the same text as the chart's livevote.redisAclRules. */
export function redisAclRules(user: RedisAclUser, prefix: string): string {
  return [
    'resetkeys', 'resetchannels', 'clearselectors', '-@all',
    ...(user.commands ?? []).map((c) => `+${c}`),
    ...(user.keys ?? []).map((k) => keyRule(k, prefix)),
    ...(user.channels ?? []).map((c) => `&${c.replaceAll('{prefix}', prefix)}`),
    ...(user.selectors ?? []).map((s) => `(${[...s.keys.map((k) => keyRule(k, prefix)), ...s.commands.map((c) => `+${c}`)].join(' ')})`),
  ].join(' ');
}

/**
 * Redis ACL file lines for the local stack, from chart/files/redis-acl.json: each service may run
 * only the commands it sends, each only on the keys it sends it to (Redis 7 selectors), and the
 * tally channel. The default user is off;
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
