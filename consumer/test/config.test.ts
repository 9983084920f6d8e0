import { expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

const base = { REDIS_URL: 'redis://127.0.0.1:6379/0', DATABASE_URL: 'postgres://u@127.0.0.1:5432/db' };

it('parses the defaults, with the test-only fault hooks off', () => {
  const c = loadConfig({ ...base, CONSUMER_NAME: 'consumer-1' });
  expect(c).toMatchObject({ PORT: 3001, CONSUMER_NAME: 'consumer-1', BATCH_SIZE: 5000, MAX_DELIVERIES: 5, REDIS_PREFIX: 'lv:', FAULT_EXIT_AFTER_COMMIT: 0 });
  expect(c.FAULT_REJECT_VID_PREFIX).toBeUndefined();
});

it('names every bad variable in one clear error', () => {
  expect(() => loadConfig({ ...base, BATCH_SIZE: '0', CONSUMER_NAME: 'has space' })).toThrow(/CONSUMER_NAME[\s\S]*BATCH_SIZE|BATCH_SIZE[\s\S]*CONSUMER_NAME/);
});

it('refuses an empty, blank or non-integer number instead of reading it as 0', () => {
  for (const bad of ['', ' ', '1e3', '0x10', '12abc']) {
    expect(() => loadConfig({ ...base, PORT: bad }), `PORT=${JSON.stringify(bad)}`).toThrow(/PORT: must be a whole number/);
    expect(() => loadConfig({ ...base, BLOCK_MS: bad }), `BLOCK_MS=${JSON.stringify(bad)}`).toThrow(/BLOCK_MS: must be a whole number/);
  }
});
