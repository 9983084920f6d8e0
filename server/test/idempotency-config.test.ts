import { expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

const base = { REDIS_URL: 'redis://127.0.0.1:6379', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x', HOST_TOKEN: 'a-host-token-of-24-chars' };

it('holds an Idempotency-Key in Redis for a short window and waits a bounded time for a vote outcome', () => {
  const c = loadConfig(base);
  expect(c.IDEMPOTENCY_WINDOW_SECONDS).toBe(300);
  expect(c.VOTE_OUTCOME_WAIT_MS).toBe(3000);
  expect(loadConfig({ ...base, IDEMPOTENCY_WINDOW_SECONDS: '60' }).IDEMPOTENCY_WINDOW_SECONDS).toBe(60);
});

it('refuses the removed IDEMPOTENCY_TTL_HOURS, naming its replacement', () => {
  expect(() => loadConfig({ ...base, IDEMPOTENCY_TTL_HOURS: '24' })).toThrow(/IDEMPOTENCY_TTL_HOURS: removed: set IDEMPOTENCY_WINDOW_SECONDS/);
});
