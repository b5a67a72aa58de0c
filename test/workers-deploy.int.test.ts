// CI's check that the Worker still builds for Cloudflare: `wrangler deploy
// --dry-run` bundles src/worker.ts with wrangler.toml exactly as a deploy would,
// offline (no account, no metrics), and writes the bundle to a temp directory.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'

const outdir = mkdtempSync(join(tmpdir(), 'wrangler-dry-run-'))
afterAll(() => rmSync(outdir, { recursive: true, force: true }))

it('bundles the Worker with `wrangler deploy --dry-run`, offline, without Node built-ins', () => {
  const run = spawnSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', outdir], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: 'true', NO_COLOR: '1' },
  })
  const output = `${run.stdout}\n${run.stderr}`
  expect(run.status, output).toBe(0)
  expect(output).toContain('--dry-run: exiting now.')
  expect(output).toMatch(/env\.CHANNELS \(ChannelObject\)\s+Durable Object/)
  expect(output).toMatch(/env\.KEY_SHARDS \(KeyShard\)\s+Durable Object/)
  const bundle = join(outdir, 'worker.js')
  expect(existsSync(bundle)).toBe(true)
  const code = readFileSync(bundle, 'utf8')
  // No nodejs_compat flag is set: the bundle must not need Node's modules.
  expect(code).not.toMatch(/from\s*["']node:|import\(\s*["']node:/)
  expect(code).toMatch(/export\s*\{[^}]*\bChannelObject\b[^}]*\}/)
  // Voucher recovery's libsecp256k1 (src/secp256k1/wasm-module-workerd.ts): uploaded beside the bundle as a module.
  const wasm = /import\s+\w+\s+from\s*"\.\/(\w+-secp256k1\.wasm)"/.exec(code)
  expect(wasm, 'the bundle imports the secp256k1 WebAssembly module').not.toBeNull()
  expect(readFileSync(join(outdir, wasm![1]!)).subarray(0, 4)).toEqual(Buffer.from([0x00, 0x61, 0x73, 0x6d]))
}, 90_000)
