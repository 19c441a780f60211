import { defineConfig } from 'vitest/config';

// Tests that need the upstream binaries (lab/build-upstream.sh) or a running lab. Not part of the default
// `make test` include; run with `npx vitest run --config lab/vitest.config.ts` (`make test-lab`).
export default defineConfig({
  test: {
    include: ['lab/test/**/*.test.ts', 'lab/src/**/*.test.ts'],
    // A cold lab/build-upstream.sh takes long on 2 cores; beforeAll hooks may run it.
    testTimeout: 600_000,
    hookTimeout: 7_200_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
