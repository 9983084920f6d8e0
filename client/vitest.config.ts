import { defineConfig } from 'vitest/config';

// Unit tests (src/**/*.test.ts) run in Node against the plain TS logic modules; test/ checks the
// image (client/Dockerfile); the end-to-end
// tests (e2e/**/*.test.ts) build the app, start the real stack and drive headless Chromium.
export default defineConfig({
  test: {
    name: 'client',
    root: import.meta.dirname,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'e2e/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 240_000,
    fileParallelism: false,
  },
});
