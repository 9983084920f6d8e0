import { availableParallelism } from 'node:os';
import { expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

const base = { REDIS_URL: 'redis://127.0.0.1:6379/0', DATABASE_URL: 'postgres://u@127.0.0.1:5432/db', HOST_TOKEN: 'a-host-token-of-24-chars' };

it('parses the defaults and a hop count or proxy list for TRUST_PROXY', () => {
  const c = loadConfig({ ...base });
  expect(c).toMatchObject({ PORT: 3000, RATE_LIMIT: 'on', SSE_TICK_MS: 100, SSE_MAX_PER_IP: 2000, TRUST_PROXY: 0, REDIS_PREFIX: 'lv:' });
  expect(loadConfig({ ...base, TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
  expect(loadConfig({ ...base, TRUST_PROXY: '10.0.0.0/8, loopback' }).TRUST_PROXY).toEqual(['10.0.0.0/8', 'loopback']);
});

it('names every bad variable in one clear error', () => {
  expect(() => loadConfig({ ...base, TRUST_PROXY: 'true', PORT: '70000', RATE_LIMIT: 'maybe', REDIS_URL: 'http://x' })).toThrow(
    /invalid configuration:[\s\S]*REDIS_URL[\s\S]*PORT[\s\S]*TRUST_PROXY: must be a hop count[\s\S]*RATE_LIMIT/,
  );
  expect(() => loadConfig({})).toThrow(/REDIS_URL[\s\S]*DATABASE_URL/);
});

it('validates TRUST_PROXY with proxy-addr itself, and ALLOWED_ORIGINS as full origins', () => {
  expect(loadConfig({ ...base, TRUST_PROXY: '10.0.0.0/255.0.0.0, ::1, uniquelocal' }).TRUST_PROXY).toEqual(['10.0.0.0/255.0.0.0', '::1', 'uniquelocal']);
  expect(() => loadConfig({ ...base, TRUST_PROXY: 'abc' })).toThrow(/TRUST_PROXY: .*invalid IP address: abc/);
  expect(() => loadConfig({ ...base, TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY: .*invalid range on address: 10\.0\.0\.0\/33/);
  expect(loadConfig({ ...base, ALLOWED_ORIGINS: ' https://Votes.Example/ , http://localhost:5173,https://a.example:443' }).ALLOWED_ORIGINS).toEqual([
    'https://votes.example',
    'http://localhost:5173',
    'https://a.example',
  ]);
  for (const bad of ['*', 'https://*.example', 'example.com', 'localhost:5173', 'https://a.example/path', 'https://a.example?x', 'null', 'ftp://a.example'])
    expect(() => loadConfig({ ...base, ALLOWED_ORIGINS: bad }), bad).toThrow(/ALLOWED_ORIGINS: /);
});

it('refuses an empty, blank or non-integer number instead of reading it as 0', () => {
  for (const bad of ['', ' ', 'abc', '1e3', '0x10', '80.5', '-1', '70000']) expect(() => loadConfig({ ...base, PORT: bad }), JSON.stringify(bad)).toThrow(/PORT: /);
  expect(loadConfig({ ...base, PORT: ' 8080 ' }).PORT).toBe(8080);
  expect(loadConfig({ ...base, PORT: '0' }).PORT).toBe(0);
});

it('takes WEB_CONCURRENCY as a number of processes or auto, one by default', () => {
  expect(loadConfig({ ...base }).WEB_CONCURRENCY).toBe(1);
  expect(loadConfig({ ...base, WEB_CONCURRENCY: '3' }).WEB_CONCURRENCY).toBe(3);
  expect(loadConfig({ ...base, WEB_CONCURRENCY: 'auto' }).WEB_CONCURRENCY).toBe(Math.min(64, availableParallelism()));
  for (const bad of ['0', '65', '-1', '1.5', 'max', '']) expect(() => loadConfig({ ...base, WEB_CONCURRENCY: bad }), JSON.stringify(bad)).toThrow(/WEB_CONCURRENCY/);
});

it('keeps the ops port apart from PORT, on loopback unless OPS_HOST says otherwise', () => {
  expect(loadConfig({ ...base })).toMatchObject({ PORT: 3000, OPS_PORT: 9464, OPS_HOST: '127.0.0.1' });
  expect(loadConfig({ ...base, OPS_PORT: '9100', OPS_HOST: ' 0.0.0.0 ' })).toMatchObject({ OPS_PORT: 9100, OPS_HOST: '0.0.0.0' });
  expect(loadConfig({ ...base, OPS_HOST: '::' }).OPS_HOST).toBe('::');
  // Both 0: two different free ports.
  expect(loadConfig({ ...base, PORT: '0', OPS_PORT: '0' })).toMatchObject({ PORT: 0, OPS_PORT: 0 });
  expect(() => loadConfig({ ...base, PORT: '8080', OPS_PORT: '8080' })).toThrow(/OPS_PORT: must differ from PORT \(8080\)/);
  expect(() => loadConfig({ ...base, OPS_PORT: '3000' })).toThrow(/OPS_PORT: must differ from PORT/);
  for (const bad of ['', 'localhost', 'example.com', '0.0.0.0:9464', '300.1.1.1', '*']) expect(() => loadConfig({ ...base, OPS_HOST: bad }), JSON.stringify(bad)).toThrow(/OPS_HOST: must be an IP address/);
});
