import { defineConfig } from 'vitest/config';

// Each part of the project owns a vitest.config.ts; `npm test` runs them all.
export default defineConfig({
  test: {
    projects: ['*/vitest.config.ts'],
  },
});
