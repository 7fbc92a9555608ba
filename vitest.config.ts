// Test projects: unit tests beside each module, and the multi-node tests in test/ that run the real network.
// The network tests run one file at a time: each starts FFmpeg, several nodes and sometimes Chromium, and
// the machines this runs on have two cores.

import { defineConfig } from 'vitest/config';

const roles = '{broadcaster,orchestrator,transcoder,relay,player,protocol,media,cli,http,p2p,observability,storage,config,settlement,bench}';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [`${roles}/**/*.test.ts`],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          pool: 'forks',
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          pool: 'forks',
          fileParallelism: false,
        },
      },
    ],
  },
});
