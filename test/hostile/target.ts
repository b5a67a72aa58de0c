// The hostile suite's target, started once for all its files (global-setup.ts):
// anvil in Tempo mode with our escrow, the fake OpenAI upstream process,
// PostgreSQL, and the gateway as an operator runs it — `src/node.ts` in its own
// process, configured only through environment variables. Its stdout (one JSON
// log line per decided request) is copied to a file the test files read.
//
// The store is PostgreSQL (DATABASE_URL), what several instances share, rather
// than PGlite: initdb inside PGlite's WebAssembly took 10–18 s on the loaded
// 2-core machine, a real server 3 s. A second instance on the same database
// (cross-instance cases) is one more `startGatewayProcess` call.
import { spawn } from 'node:child_process'
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Address, toHex } from 'viem'
import { type Anvil, deployEscrow, startAnvil, testAccounts, testClient } from '../harness/local-chain.js'
import { startPostgres } from '../harness/postgres.js'
import { killOnExit, stopper, waitForOutput } from '../harness/processes.js'
import { startFakeUpstream } from '../support/fake-upstream.js'
import { repoRoot } from '../support/processes.js'

/** What the test files need to reach the target (passed through vitest's `provide`). */
export type HostileTarget = {
  /** The gateway's origin, `http://127.0.0.1:<port>`. */
  url: string
  /** The gateway process (for its memory use). */
  pid: number
  /** Its stdout, appended as it arrives. */
  logFile: string
  rpcUrl: string
  escrow: Address
  /** The fake upstream's origin (control endpoints). */
  upstream: string
}

export const secretKey = 'hostile-suite-secret-key-of-32-bytes+'
export const realm = 'hostile.test'
export const bucketSize = 100_000n
export const inputTokenPrice = 10n
export const outputTokenPrice = 20n
/** The gateway's payee (it signs closes and pays their fees): anvil account 4. */
export const payee = testAccounts[4]!
/** Funds the suite's payers: anvil account 0. */
export const funder = testAccounts[0]!

const model = (id: string, maxOutputTokens = 100, encoding?: 'o200k_base') => ({
  id,
  inputTokenPrice: inputTokenPrice.toString(),
  outputTokenPrice: outputTokenPrice.toString(),
  maxOutputTokens,
  ...(encoding ? { encoding } : {}),
})

/** Model ids steer the fake upstream (test/support/fake-upstream-server.mjs). */
export const models = {
  /** Billed as OpenAI bills (tiktoken o200k_base), quoted with the model's tokenizer. */
  billed: 'usage:true',
  /** 40 prompt + 60 completion tokens: 1,600 a completion. */
  fixed: 'usage:40,60',
  /** A completion limit of up to 100,000 tokens: a quote above a small deposit. */
  large: 'usage:10,10',
  /** 10 prompt + 4,990 completion tokens: 99,900 a completion, ten of them a whole 1.00-token deposit. */
  costly: 'usage:10,4990',
  /** 300 ms to answer: requests stay in flight. */
  slow: 'stall:300',
  /** The first request gets a 429 (Retry-After 1), later ones `ok`; `once:` lasts until the upstream's reset(). */
  rateLimitedOnce: 'once:fail:429:1',
  /** The first request gets a 503, later ones `ok`. */
  unavailableOnce: 'once:fail:503',
} as const

export const catalogue = [
  model(models.billed, 100, 'o200k_base'),
  model(models.fixed),
  model(models.large, 100_000),
  model(models.costly, 5_000),
  model(models.slow),
  model(models.rateLimitedOnce),
  model(models.unavailableOnce),
]

export type GatewayProcess = { url: string; pid: number; stop: () => Promise<void> }

/**
 * `src/node.ts` as its own process on `anvil`'s escrow, the upstream and the
 * database, configured only by environment variables (`env` adds or
 * overrides); its stdout goes to `logFile`.
 */
export async function startGatewayProcess(options: {
  anvil: Pick<Anvil, 'rpcUrl' | 'chain'>
  escrow: Address
  upstreamBaseUrl: string
  databaseUrl: string
  logFile: string
  env?: Record<string, string>
}): Promise<GatewayProcess> {
  const gateway = killOnExit(
    spawn(process.execPath, ['--import', 'tsx', 'src/node.ts'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        PORT: '0',
        MPP_REALM: realm,
        MPP_SECRET_KEY: secretKey,
        RPC_URL: options.anvil.rpcUrl,
        CHAIN_ID: String(options.anvil.chain.id),
        ESCROW_ADDRESS: options.escrow,
        PAYEE_PRIVATE_KEY: toHex(payee.getHdKey().privateKey!),
        UPSTREAM_BASE_URL: options.upstreamBaseUrl,
        UPSTREAM_TIMEOUT_MS: '5000',
        MODEL_CATALOGUE: JSON.stringify(catalogue),
        BUCKET_SIZE: bucketSize.toString(),
        DATABASE_URL: options.databaseUrl,
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  const stop = stopper(gateway)
  gateway.stdout!.pipe(createWriteStream(options.logFile, { flags: 'a' }))
  let stderr = ''
  gateway.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)))
  const listening = await waitForOutput(gateway, /Gateway listening on (http:\/\/127\.0\.0\.1:\d+)/, {
    what: 'src/node.ts',
    timeoutMs: 60_000,
    diagnostics: () => stderr,
  })
  const url = listening[1]!
  try {
    // The first quote with a tokenizer loads its ranks (tens of megabytes): done here, so no test measures it.
    const warmUp = await fetch(`${url}/v1/mpp/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: models.billed, max_tokens: 1, messages: [{ role: 'user', content: 'warm up' }] }),
    })
    if (warmUp.status !== 402) throw new Error(`the gateway answered its warm-up request with ${warmUp.status}\n${stderr}`)
  } catch (error) {
    await stop()
    throw error
  }
  return { url, pid: gateway.pid!, stop }
}

/** Starts everything; resolves with the target and a function that stops it all. */
export async function startTarget(): Promise<{ target: HostileTarget; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'mpp-hostile-'))
  const stops: (() => Promise<void>)[] = []
  const stop = async () => {
    for (const stopOne of stops.reverse()) await stopOne()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    // Side by side; whatever started is stopped again if another part fails.
    const parts = [startAnvil({ tempo: true }), startFakeUpstream(), startPostgres()] as const
    for (const part of await Promise.allSettled(parts)) if (part.status === 'fulfilled') stops.push(part.value.stop)
    const [anvil, upstream, postgres] = await Promise.all(parts)
    const escrow = await deployEscrow(testClient(anvil, testAccounts[3]!))
    const logFile = join(dir, 'gateway.log')
    const gateway = await startGatewayProcess({
      anvil,
      escrow,
      upstreamBaseUrl: upstream.baseUrl,
      databaseUrl: postgres.connectionString,
      logFile,
    })
    stops.push(gateway.stop)
    const target = { url: gateway.url, pid: gateway.pid, logFile, rpcUrl: anvil.rpcUrl, escrow, upstream: new URL(upstream.baseUrl).origin }
    return { target, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
