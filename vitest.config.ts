import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
          exclude: ['test/e2e/**', 'test/chaos/**'],
          env: { VENDETTA_SSH_PERSIST: '0' },
        },
      },
      {
        test: {
          name: 'e2e',
          // Every CLI a test runs connects on its own (no connection keeper lingering between
          // tests: they restart sshd, change host keys, kill nodes). test/e2e/ssh-keeper.test.ts
          // turns the keeper on for itself.
          env: { VENDETTA_SSH_PERSIST: '0' },
          // test/chaos kills apply, sshd and dockerd on the shared nodes: serialized like the rest.
          include: ['test/e2e/**/*.test.ts', 'test/chaos/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // e2e suites share real nodes and daemons: run files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
