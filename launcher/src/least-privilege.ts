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

/**
 * Redis ACL users: each service may run only the commands it sends, on its own keys and the
 * tally channel. The default user is off; `admin` exists for operators.
 */
export function redisAclLines(prefix: string, creds: Pick<Credentials, 'redisAdmin' | 'redisServer' | 'redisConsumer'>): string[] {
  const p = prefix;
  return [
    'user default off',
    `user admin on >${creds.redisAdmin} ~* &* +@all`,
    `user server on >${creds.redisServer} resetchannels &${p}tally resetkeys ~${p}votes ~${p}idem:* ~${p}rl:* ` +
      '-@all +ping +hello +client|setname +info +xadd +get +set +incr +decr +pttl +del +eval +evalsha +script|load +subscribe +unsubscribe',
    `user consumer on >${creds.redisConsumer} resetchannels &${p}tally resetkeys ~${p}votes ~${p}votes:dead ` +
      '-@all +ping +hello +client|setname +info +xgroup|create +xgroup|delconsumer +xinfo|consumers +xreadgroup +xack +xautoclaim +xpending +xadd +xtrim +xinfo|groups +xlen +xrange +multi +exec +publish',
  ];
}
