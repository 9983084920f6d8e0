import { defineConfig } from 'vitest/config';

export default defineConfig({ test: { name: 'chart', include: ['test/**/*.test.ts'], testTimeout: 120000 } });
