import { defineConfig } from 'vitest/config';

// Part of `npm test`. The fault drills and the fuzzer (`npm run test:faults`) have their own config.
export default defineConfig({
  test: {
    name: 'system',
    root: import.meta.dirname,
    include: ['*.test.ts'],
    exclude: ['vote-api-fuzz.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
  },
});
