import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration files each start workers and HTTP servers; two cores are shared with Redis.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
