import { defineConfig } from 'vitest/config';

// Integration tests share one embedded stack (started once by the global setup) and keep apart by task queue.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/globalSetup.ts'],
    setupFiles: ['test/setup.ts'],
    // Generous: the integration tests wait on real services and real timers on a 2-core machine under load.
    testTimeout: 150_000,
    hookTimeout: 180_000,
    // Two cores: more forks than that only make the Temporal server and the workers wait on each other.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
