import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/workers/ runs inside workerd with its own config (vitest.workers.config.ts).
    exclude: [...configDefaults.exclude, 'test/workers/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
