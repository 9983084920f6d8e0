import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commonEnv, parseEnv } from '../src/config.ts';
import { redisTargetOf } from '../src/redis-target.ts';

const db = { DATABASE_URL: 'postgres://u@127.0.0.1:5432/db' };
const parse = (env: Record<string, string>) => parseEnv(commonEnv, { ...db, ...env });

describe('the Redis variables: exactly one mode', () => {
  it('REDIS_URL: standalone', () => {
    expect(redisTargetOf(parse({ REDIS_URL: 'redis://u:p@10.0.0.1:6380/2' }))).toEqual({ mode: 'standalone', url: 'redis://u:p@10.0.0.1:6380/2' });
  });

  it('REDIS_SENTINELS + REDIS_SENTINEL_NAME: Sentinel, with 26379 as the default port and credentials for both', () => {
    const t = redisTargetOf(
      parse({ REDIS_SENTINELS: 's1:26380, s2 ,[::1]:26381', REDIS_SENTINEL_NAME: 'votes', REDIS_SENTINEL_PASSWORD: 'sp', REDIS_USERNAME: 'server', REDIS_PASSWORD: 'pw' }),
    );
    expect(t).toEqual({
      mode: 'sentinel',
      sentinels: [{ host: 's1', port: 26380 }, { host: 's2', port: 26379 }, { host: '::1', port: 26381 }],
      name: 'votes',
      sentinelPassword: 'sp',
      username: 'server',
      password: 'pw',
    });
  });

  it('REDIS_CLUSTER_NODES: Cluster, which needs STREAM_SHARDS', () => {
    expect(() => parse({ REDIS_CLUSTER_NODES: 'a:7000,b:7001' })).toThrow(/STREAM_SHARDS: required with REDIS_CLUSTER_NODES/);
    const c = parse({ REDIS_CLUSTER_NODES: 'a:7000,b:7001', STREAM_SHARDS: '3' });
    expect(c.STREAM_SHARDS).toBe(3);
    expect(redisTargetOf(c)).toEqual({ mode: 'cluster', nodes: [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }] });
  });

  it('refuses none, or two at once, naming the variables', () => {
    expect(() => parse({})).toThrow(/REDIS_URL: required: set exactly one of REDIS_URL, REDIS_SENTINELS \(with REDIS_SENTINEL_NAME\) or REDIS_CLUSTER_NODES/);
    const both = () => parse({ REDIS_URL: 'redis://x:6379', REDIS_CLUSTER_NODES: 'a:7000', STREAM_SHARDS: '2' });
    expect(both).toThrow(/REDIS_URL: set only one of REDIS_URL, REDIS_CLUSTER_NODES/);
    expect(both).toThrow(/REDIS_CLUSTER_NODES: set only one of/);
  });

  it('refuses a half-given Sentinel set-up, bad addresses, and credentials outside the URL in URL mode', () => {
    expect(() => parse({ REDIS_SENTINELS: 's1:26379' })).toThrow(/REDIS_SENTINEL_NAME: required with REDIS_SENTINELS/);
    expect(() => parse({ REDIS_URL: 'redis://x', REDIS_SENTINEL_NAME: 'm' })).toThrow(/REDIS_SENTINEL_NAME: only with REDIS_SENTINELS/);
    expect(() => parse({ REDIS_CLUSTER_NODES: 'a:99999', STREAM_SHARDS: '2' })).toThrow(/REDIS_CLUSTER_NODES: "a:99999" is not host:port/);
    expect(() => parse({ REDIS_URL: 'redis://x', REDIS_PASSWORD: 'p' })).toThrow(/REDIS_PASSWORD: with REDIS_URL the user and password go in the URL/);
    expect(() => parse({ REDIS_URL: 'redis://x', STREAM_SHARDS: '0' })).toThrow(/STREAM_SHARDS: /);
  });

  it('REDIS_NAT_MAP: announced addresses mapped to reachable ones, for Sentinel and Cluster only', () => {
    const natMap = { '10.0.0.5:6379': { host: '127.0.0.1', port: 16379 }, '::1:7000': { host: 'proxy', port: 17000 } };
    const given = '10.0.0.5:6379=127.0.0.1:16379, [::1]:7000=proxy:17000';
    expect(redisTargetOf(parse({ REDIS_SENTINELS: 's1', REDIS_SENTINEL_NAME: 'm', REDIS_NAT_MAP: given }))).toMatchObject({ mode: 'sentinel', natMap });
    expect(redisTargetOf(parse({ REDIS_CLUSTER_NODES: 'a:7000', STREAM_SHARDS: '3', REDIS_NAT_MAP: given }))).toMatchObject({ mode: 'cluster', natMap });
    expect(() => parse({ REDIS_URL: 'redis://x', REDIS_NAT_MAP: 'a:1=b:2' })).toThrow(/REDIS_NAT_MAP: only with REDIS_SENTINELS or REDIS_CLUSTER_NODES/);
    for (const bad of ['a:1', 'a=b:2', 'a:1=b:2=c:3', 'a:0=b:2', ' , ']) {
      expect(() => parse({ REDIS_CLUSTER_NODES: 'a:7000', STREAM_SHARDS: '1', REDIS_NAT_MAP: bad }), bad).toThrow(/REDIS_NAT_MAP: /);
    }
  });

  it('names every problem at once, Redis and others', () => {
    expect(() => parseEnv(commonEnv, { LOG_LEVEL: 'loud' })).toThrow(/REDIS_URL: required[\s\S]*DATABASE_URL[\s\S]*LOG_LEVEL/);
  });

  it('REDIS_CA_FILE: TLS with that CA; unreadable is refused; with REDIS_URL only for rediss://', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lv-ca-'));
    const ca = path.join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    expect(redisTargetOf(parse({ REDIS_URL: 'rediss://x:6380', REDIS_CA_FILE: ca }))).toMatchObject({ mode: 'standalone', tls: { ca: expect.stringContaining('BEGIN CERTIFICATE') } });
    expect(redisTargetOf(parse({ REDIS_CLUSTER_NODES: 'a:7000', STREAM_SHARDS: '1', REDIS_CA_FILE: ca }))).toMatchObject({ mode: 'cluster', tls: { ca: expect.any(String) } });
    expect(() => parse({ REDIS_URL: 'redis://x:6380', REDIS_CA_FILE: ca })).toThrow(/REDIS_CA_FILE: with REDIS_URL, TLS needs a rediss:\/\/ URL/);
    expect(() => parse({ REDIS_URL: 'rediss://x', REDIS_CA_FILE: path.join(dir, 'missing.pem') })).toThrow(/REDIS_CA_FILE: cannot read .*ENOENT/);
  });
});
