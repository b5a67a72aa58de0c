// The workerd suite (test/workers/): the Durable Object store and the Worker,
// run inside workerd by @cloudflare/vitest-pool-workers. `npm test` runs it
// after the Node suite (scripts/test.mjs); alone: `npm run test:workers`.
import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  plugins: [
    // A function of `inject`: the anvil started by the global setup becomes the Worker's chain.
    cloudflareTest(({ inject }) => ({
      main: './src/worker.ts',
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        bindings: {
          MPP_REALM: 'gateway.test',
          MPP_SECRET_KEY: inject('secretKey'),
          RPC_URL: inject('rpcUrl'),
          ESCROW_ADDRESS: inject('escrowAddress'),
          PAYEE_PRIVATE_KEY: inject('payeeKey'),
          BUCKET_SIZE: '100000',
          // Channels' sweeps (Durable Object alarms) wait a day, so none runs by itself during the suite; the
          // sweeper tests make one due and run the alarm, against limits of a second or two.
          SWEEP_INTERVAL_MS: '86400000',
          SETTLE_AFTER_MS: '1000',
          CLOSE_IDLE_AFTER_MS: '2000',
        },
      },
    })),
  ],
  test: {
    include: ['test/workers/**/*.test.ts'],
    globalSetup: ['test/workers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The Worker logs a line per paid request; show logs of failing tests only.
    silent: 'passed-only',
    // Pre-bundled once and cached (node_modules/.vite): importing viem module by module takes ~7 s.
    deps: {
      optimizer: {
        ssr: {
          enabled: true,
          include: [
            'viem',
            'viem/accounts',
            'viem/chains',
            'viem/tempo',
            'hono',
            'jose',
            'zod',
            '@noble/hashes/sha2.js',
            '@noble/hashes/hmac.js',
          ],
          // ox's Tempo miner imports node:worker_threads lazily, on Node only; leave such imports alone.
          rolldownOptions: { external: [/^node:/] },
        },
      },
    },
  },
})
