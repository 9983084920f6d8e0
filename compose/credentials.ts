/**
 * The `credentials` one-shot service of compose.yaml (run by the consumer image's Node.js, so no
 * other image is needed). Generates each password once into the `credentials` volume and, on every
 * start, writes from them what each service mounts (one subdirectory each, mounted by that
 * service alone through a volume subpath):
 *
 *   store/        the passwords (0700; mounted by this service only)
 *   redis/        users.acl (from chart/files/redis-acl.json, passwords as SHA-256, like the
 *                 chart's write-acl.sh), probe-password (for its health check)
 *   postgresql/   superuser-password and one <role>-password per login role (its init script)
 *   server/ consumer/ migrations/
 *                 env: REDIS_URL and DATABASE_URL with that service's own user (and, for the
 *                 server, HOST_TOKEN), read by `node --env-file`
 *
 * The ACL rules are rendered by launcher/src/least-privilege.ts, the renderer `npm start` uses and
 * chart/test/datastores.test.ts compares with the chart's: the same least privilege everywhere.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_REDIS_PREFIX } from '../contract/src/constants.ts';
import { readRedisAcl, redisAclRules, REDIS_ACL_FILE } from '../launcher/src/least-privilege.ts';

/** The PostgreSQL login roles, as the chart's postgresql.yaml creates them (`livevote_<role>`). */
export const POSTGRES_ROLES = ['migrator', 'server', 'consumer'] as const;

export interface CredentialsOptions {
  /** The volume's root. */
  dir: string;
  redisPrefix?: string;
  redisHost?: string;
  postgresHost?: string;
  aclFile?: string;
}

const hash = (s: string) => createHash('sha256').update(s).digest('hex');

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** Writes everything; returns the names of the passwords it generated (none on a later start). */
export function writeCredentials(options: CredentialsOptions): string[] {
  const { dir, redisPrefix = DEFAULT_REDIS_PREFIX, redisHost = 'redis', postgresHost = 'postgresql', aclFile = REDIS_ACL_FILE } = options;
  const users = readRedisAcl(aclFile);
  const store = path.join(dir, 'store');
  mkdirSync(store, { recursive: true, mode: 0o700 });
  chmodSync(store, 0o700);
  const generated: string[] = [];
  const password = (name: string): string => {
    const file = path.join(store, name);
    if (!existsSync(file)) {
      // URL-safe, so it goes into REDIS_URL / DATABASE_URL as it is.
      writeAtomic(file, randomBytes(24).toString('base64url'), 0o600);
      generated.push(name);
    }
    return readFileSync(file, 'utf8').trim();
  };
  const out = (sub: string, files: Record<string, string>) => {
    const d = path.join(dir, sub);
    mkdirSync(d, { recursive: true, mode: 0o755 });
    chmodSync(d, 0o755);
    // Readable by the service's own user (redis and postgres run as 999, the apps as 65532);
    // only that service mounts this subdirectory.
    for (const [name, text] of Object.entries(files)) writeAtomic(path.join(d, name), text, 0o644);
  };

  const acl = users.map((u) =>
    u.enabled
      ? `user ${u.name} on #${hash(password(`redis-${u.name}`))} ${redisAclRules(u, redisPrefix)}`
      : `user ${u.name} off resetpass ${redisAclRules(u, redisPrefix)}`,
  );
  const redisUser = (name: string) => {
    if (!users.some((u) => u.name === name && u.enabled)) throw new Error(`${aclFile}: no enabled Redis user "${name}"`);
    return `redis://${name}:${password(`redis-${name}`)}@${redisHost}:6379/0`;
  };
  const databaseUrl = (role: (typeof POSTGRES_ROLES)[number]) => `postgres://livevote_${role}:${password(`postgres-${role}`)}@${postgresHost}:5432/livevote`;

  out('redis', { 'users.acl': `${acl.join('\n')}\n`, ...(users.some((u) => u.name === 'probe' && u.enabled) ? { 'probe-password': password('redis-probe') } : {}) });
  out('postgresql', {
    'superuser-password': password('postgres-superuser'),
    ...Object.fromEntries(POSTGRES_ROLES.map((r) => [`${r}-password`, password(`postgres-${r}`)])),
  });
  // The host's token (HOST_TOKEN) rides in the server's env file; read it with
  // `docker compose exec server grep HOST_TOKEN /run/livevote/env`.
  out('server', { env: `REDIS_URL=${redisUser('server')}\nDATABASE_URL=${databaseUrl('server')}\nHOST_TOKEN=${password('host-token')}\n` });
  out('consumer', { env: `REDIS_URL=${redisUser('consumer')}\nDATABASE_URL=${databaseUrl('consumer')}\n` });
  out('migrations', { env: `DATABASE_URL=${databaseUrl('migrator')}\n` });
  return generated;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const generated = writeCredentials({ dir: process.env.CREDENTIALS_DIR ?? '/home/nonroot', redisPrefix: process.env.REDIS_PREFIX || DEFAULT_REDIS_PREFIX });
    console.log(generated.length ? `credentials: generated ${generated.join(', ')}` : 'credentials: kept the existing passwords');
  } catch (err) {
    console.error(`credentials: failed: ${(err as Error).message}`);
    process.exit(1);
  }
}
