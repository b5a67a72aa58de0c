import { configDefaults, defineConfig } from 'vitest/config'

// `npm run test:unit`: the pure tests only (no anvil, PostgreSQL, child process or workerd), in seconds.
// Files that start a real component are named `*.int.test.ts` (test/layout.test.ts checks the naming).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, 'test/workers/**', 'test/**/*.int.test.ts'],
    testTimeout: 30_000,
  },
})
