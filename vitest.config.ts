import { defineConfig } from 'vitest/config';

// Four tiers (see README "Tests"). The integration and e2e tiers share one real control plane,
// started once by test/harness/global-setup.ts.
export default defineConfig({
  test: {
    projects: [
      {
        extends: false,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        extends: false,
        test: {
          name: 'providers',
          include: ['test/providers/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: false,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/faults/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        extends: false,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        extends: false,
        test: {
          // A real node (kubelet, containerd, runc) as root, with its own control plane. `npm test` runs it
          // as a second vitest invocation after the other tiers, building the node first (`npm run
          // node:build`). One node per machine, so one file at a time.
          name: 'node',
          include: ['test/node-tier/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
