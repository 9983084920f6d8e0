import { defineConfig } from 'vitest/config';

// Runs from the root (`npx vitest run --project chart`); needs `bash tools/install-helm.sh` first.
export default defineConfig({ test: { name: 'chart', include: ['test/**/*.test.ts'], testTimeout: 120000, hookTimeout: 120000 } });
