import { defineConfig } from 'vitest/config';

// Runs without a live stack: the workflow YAML checks and the k6 test adapter's own tests
// (against an in-process fake). The scripts against the live stack: `npm run loadtest:check`.
export default defineConfig({
  test: {
    name: 'loadtest',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
