export * from './redis.ts';
export * from './postgres.ts';
export * from './logger.ts';
export * from './config.ts';
