// The wasm backend as a deployed Worker gets it: `wrangler deploy --dry-run`
// bundles the recovery-only Worker of test/secp256k1/worker/ (no
// nodejs_compat), and Miniflare runs that bundle in workerd.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Miniflare } from 'miniflare'
import { afterAll, expect, it } from 'vitest'
import { publicVectors } from './vectors.js'

const outdir = mkdtempSync(join(tmpdir(), 'secp256k1-worker-'))
afterAll(() => rmSync(outdir, { recursive: true, force: true }))

it('bundles the wasm backend as a compiled module and recovers in workerd, selected in the global scope', async () => {
  const run = spawnSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', outdir, '--config', 'test/secp256k1/worker/wrangler.toml'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: 'true', NO_COLOR: '1' },
  })
  const output = `${run.stdout}\n${run.stderr}`
  expect(run.status, output).toBe(0)
  expect(output).toContain('--dry-run: exiting now.')

  // The module is uploaded beside the script, byte for byte the package's binary, and imported by the script.
  const [wasmFile, ...others] = readdirSync(outdir).filter((file) => file.endsWith('.wasm'))
  expect(wasmFile).toBeDefined()
  expect(others).toEqual([])
  const packageWasm = new URL('../secp256k1.wasm', pathToFileURL(createRequire(import.meta.url).resolve('tiny-secp256k1')))
  expect(readFileSync(join(outdir, wasmFile!)).equals(readFileSync(packageWasm))).toBe(true)
  const code = readFileSync(join(outdir, 'worker.js'), 'utf8')
  expect(code).toContain(`from "./${wasmFile}"`)
  // No nodejs_compat: nothing of Node's, and not the Node backends (the addon, fs).
  expect(code).not.toMatch(/from\s*["']node:|import\(\s*["']node:|require\(/)

  const worker = new Miniflare({
    modules: true,
    scriptPath: join(outdir, 'worker.js'),
    modulesRoot: outdir,
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: '2026-04-20',
  })
  try {
    for (const vector of publicVectors) {
      const response = await worker.dispatchFetch('http://worker.test/', {
        method: 'POST',
        body: JSON.stringify({ digest: vector.digest, signature: vector.signature }),
      })
      expect(await response.json()).toEqual({ backend: 'wasm', skipped: [], address: vector.address })
    }
  } finally {
    await worker.dispose()
  }
}, 120_000)
