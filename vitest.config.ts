import { defineConfig } from 'vitest/config';

// Tests start real processes (node, the CLI, the demo) with the library preloaded.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
