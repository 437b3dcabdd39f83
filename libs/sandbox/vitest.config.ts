import { defineConfig } from 'vitest/config';

// The integration tests start real bubblewrap sandboxes (fork bombs, memory and
// CPU hogs): one file at a time keeps the 2-core machine responsive.
export default defineConfig({
  test: { include: ['src/**/*.test.ts', 'test/**/*.test.ts'], testTimeout: 60_000, fileParallelism: false },
});
