import { Cluster } from 'ioredis';
import type { RedisClient } from './redis.ts';

/**
 * The tally channel in every mode. On a Cluster it is a sharded channel (SPUBLISH/SSUBSCRIBE):
 * a message goes to the one shard that owns the channel's slot instead of being broadcast to every
 * node. Standalone and Sentinel keep plain PUBLISH/SUBSCRIBE, so servers and consumers of
 * different versions still hear each other during a rolling upgrade.
 */
export const isCluster = (client: RedisClient): client is Cluster => client instanceof Cluster;

export function publishMessage(client: RedisClient, channel: string, message: string): Promise<unknown> {
  return isCluster(client) ? client.spublish(channel, message) : client.publish(channel, message);
}

export function subscribeChannel(client: RedisClient, channel: string): Promise<unknown> {
  return isCluster(client) ? client.ssubscribe(channel) : client.subscribe(channel);
}

export function onChannelMessage(client: RedisClient, listener: (channel: string, message: string) => void): void {
  client.on(isCluster(client) ? 'smessage' : 'message', listener);
}
