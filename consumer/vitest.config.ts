import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'consumer',
    include: ['test/**/*.test.ts'],
    exclude: ['test/faults/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
