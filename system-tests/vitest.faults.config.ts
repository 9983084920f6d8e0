import { defineConfig } from 'vitest/config';

// `npm run test:faults`: one file at a time, since each one kills or starves real processes.
export default defineConfig({
  test: {
    name: 'faults',
    root: import.meta.dirname,
    include: ['faults/**/*.test.ts', 'vote-api-fuzz.test.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
