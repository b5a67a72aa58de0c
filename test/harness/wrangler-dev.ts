// `wrangler dev` on src/worker.ts (wrangler.toml), local only: how to start it
// with this Node, the gateway's variables as `--var`, Durable Objects kept in
// `persistTo`, and wrangler kept off the network (no metrics, no
// Cloudflare fetches, docs/local-chain.md). It prints `Ready on <url>` once it
// serves.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

export const wranglerDevReady = /Ready on (http:\/\/127\.0\.0\.1:\d+)/

/** The arguments for `process.execPath` and the environment to add, for `wrangler dev` on 127.0.0.1:`port`. */
export function wranglerDev(options: { port: number; persistTo: string; vars: Record<string, string> }): {
  args: string[]
  env: Record<string, string>
} {
  return {
    args: [
      join(repoRoot, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(options.port),
      '--persist-to',
      options.persistTo,
      '--show-interactive-dev-session=false',
      ...Object.entries(options.vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
    ],
    env: { WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', NO_COLOR: '1', CI: 'true' },
  }
}
