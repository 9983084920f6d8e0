import { defineConfig } from 'vitest/config';

// The adapter's own tests: the loadtest scripts through the adapter against an in-process fake
// stack with faults, and fixtures it must refuse. No live stack needed.
export default defineConfig({
  test: {
    name: 'k6-adapter',
    root: import.meta.dirname,
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
