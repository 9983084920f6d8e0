import { expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

const base = { REDIS_URL: 'redis://127.0.0.1:6379/0', DATABASE_URL: 'postgres://u@127.0.0.1:5432/db' };

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
