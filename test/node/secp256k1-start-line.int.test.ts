// The Node entry (src/node.ts, its own process) names the secp256k1 backend it
// recovers vouchers with in its start line, and refuses a SECP256K1_BACKEND it
// does not know before it listens. No chain is needed to start: the RPC URL
// points nowhere.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { killOnExit, stopper, waitForOutput } from '../harness/processes.js'
import { repoRoot } from '../support/processes.js'

const dataDirs: string[] = []

function nodeEntry(backend: string) {
  const dataDir = mkdtempSync(join(tmpdir(), 'secp256k1-start-line-'))
  dataDirs.push(dataDir)
  const child = killOnExit(
    spawn(process.execPath, ['--import', 'tsx', 'src/node.ts'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        MPP_SECRET_KEY: 'secp256k1-start-line-secret-of-32-bytes',
        CHAIN_ID: '31337',
        RPC_URL: 'http://127.0.0.1:9',
        ESCROW_ADDRESS: '0x5fbdb2315678afecb367f032d93f642f64180aa3',
        PAYEE_ADDRESS: '0x90f79bf6eb2c4f870365e785982e1f101e93b906',
        PGLITE_DIR: dataDir,
        PORT: '0',
        SECP256K1_BACKEND: backend,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return { child, stderr: () => stderr, stop: stopper(child) }
}

afterAll(() => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
})

describe('the Node entry', () => {
  // One start (PGlite makes it slow on a busy machine): a non-default backend shows the variable is honoured;
  // the default (native) is test/config/env.test.ts's.
  it('names the backend SECP256K1_BACKEND chose in its start line', { timeout: 120_000 }, async () => {
    const gateway = nodeEntry('wasm')
    try {
      const line = await waitForOutput(gateway.child, /Gateway listening on http:\/\/127\.0\.0\.1:\d+ \(secp256k1 recovery: (\w+)\)/, {
        what: 'src/node.ts',
        timeoutMs: 100_000,
        diagnostics: gateway.stderr,
      })
      expect(line[1]).toBe('wasm')
    } finally {
      await gateway.stop()
    }
  })

  it('refuses an unknown SECP256K1_BACKEND before it listens, naming the variable and its rule', { timeout: 60_000 }, async () => {
    const gateway = nodeEntry('openssl')
    const code = await new Promise<number | null>((resolve) => gateway.child.once('exit', resolve))
    expect(code).toBe(1)
    expect(gateway.stderr()).toContain('gateway configuration error: SECP256K1_BACKEND: must be one of auto, native, wasm, noble')
  })
})
