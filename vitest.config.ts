import { configDefaults, defineConfig } from 'vitest/config'
import { LedgerLastSequencer } from './test/hostile/sequencer.js'

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The hostile suite's ledger check last (a sequencer is set for all projects or none).
    sequence: { sequencer: LedgerLastSequencer },
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          // test/workers/ runs inside workerd with its own config (vitest.workers.config.ts).
          exclude: [...configDefaults.exclude, 'test/workers/**', 'test/hostile/**'],
        },
      },
      {
        extends: true,
        test: {
          // Two gateway processes, anvil, PostgreSQL and the fake upstream for all its files, started only when one of them runs.
          name: 'hostile',
          include: ['test/hostile/**/*.test.ts'],
          globalSetup: ['test/hostile/global-setup.ts'],
          // The files share that target and read its global figures (upstream calls, the payee's balance, its memory): one at a time,
          // ledger.int.test.ts (what they all did) last.
          fileParallelism: false,
          // In one worker, importing the support modules once: each file's own worker cost about 3 s of imports.
          isolate: false,
        },
      },
    ],
  },
})
