import { defineConfig } from 'vitest/config';

// Runs without a live stack: the checks of the .github workflow YAMLs. The k6 test adapter's own
// tests live in k6-adapter/; the scripts against a live stack: `npm run loadtest:check`.
export default defineConfig({
  test: {
    name: 'loadtest',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
