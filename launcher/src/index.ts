export { startStack, SERVER_ENTRY, CONSUMER_ENTRY, type Stack, type StackOptions } from './stack.ts';
export { ServiceProcess } from './service-process.ts';
export { RedisServer, redisServerAvailable, killOnExit, type RedisServerOptions } from './redis-server.ts';
export { startEmbeddedPostgres } from './embedded-postgres.ts';
export { freePort } from './free-port.ts';
export { provisionPostgresRoles, redisAclLines, type Credentials } from './least-privilege.ts';
