export * from './redis.ts';
export * from './postgres.ts';
export * from './logger.ts';
export * from './config.ts';
export * from './redis-target.ts';
export * from './stream-shards.ts';
export * from './pubsub.ts';
export * from './ops-server.ts';
