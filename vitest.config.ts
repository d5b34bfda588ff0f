import { defineConfig } from 'vitest/config';

/**
 * The 100,000-item tests (FISCAL_LOAD_TEST=1) each need both cores: beside each other or beside the rest of the
 * suite, provider calls time out and their figures measure the crowd. They run last, one at a time.
 */
const HEAVY = ['test/integration/load.test.ts', 'test/integration/bulk-enqueue.load.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration files each start workers and HTTP servers; two cores are shared with Redis.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: HEAVY, fileParallelism: true, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'heavy', include: HEAVY, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
