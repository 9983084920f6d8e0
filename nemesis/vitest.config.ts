import { defineConfig } from 'vitest/config';

// Part of `npm test`: the checker over made-up histories, and one short real run of a broken build.
export default defineConfig({
  test: {
    name: 'nemesis',
    root: import.meta.dirname,
    include: ['test/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
  },
});
