import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Kernel tests create netns, links and bpffs mounts with unique names, but they share two
    // cores: run files one at a time so timing-sensitive datapath tests are not starved.
    fileParallelism: false,
    pool: 'forks',
  },
});
