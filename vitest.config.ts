import { defineConfig } from 'vitest/config';

// Forks, not threads: the agent uses async_hooks, the inspector and process-wide state,
// so every test file gets a process of its own.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
