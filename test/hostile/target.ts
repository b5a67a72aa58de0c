// The hostile suite's target, started once for all its files (global-setup.ts):
// anvil in Tempo mode with our escrow, the fake OpenAI upstream process,
// PostgreSQL, and the gateway as an operator runs it — `src/node.ts` in its own
// process, configured only through environment variables. Its stdout (one JSON
// log line per decided request) is copied to a file the test files read.
//
// The store is PostgreSQL (DATABASE_URL), what several instances share, rather
// than PGlite: initdb inside PGlite's WebAssembly took 10–18 s on the loaded
// 2-core machine, a real server 3 s. A second instance of the same deployment
// runs beside it on the same database (`other`: the cross-instance limits, and
// short server timeouts the first keeps at their defaults); a test file that
// needs a differently configured gateway (another payee) starts its own with
// one more `startGatewayProcess` call. Every gateway's log file is in `dir`.
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

/** A gateway process as the test files reach it. */
export type GatewayInstance = {
  /** Its origin, `http://127.0.0.1:<port>`. */
  url: string
  /** The process (for its memory use). */
  pid: number
  /** Its stdout, appended as it arrives. */
  logFile: string
}

/** What the test files need to reach the target (passed through vitest's `provide`). */
export type HostileTarget = GatewayInstance & {
  /**
   * A second instance of the same deployment on the same database (the same
   * secret, payee, catalogue and limits), whose server gives a request's
   * headers and whole request only `otherTimeouts` to arrive.
   */
  other: GatewayInstance
  rpcUrl: string
  escrow: Address
  /** The fake upstream's origin (control endpoints). */
  upstream: string
  /** The PostgreSQL database the gateway keeps its state in (more instances share it). */
  databaseUrl: string
  /** Where the gateways' log files go: `gateway.log` is the target's, `gateway-<name>.log` another instance's. */
  dir: string
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
/** New vouchers per channel per second, for every instance (the default). */
export const voucherRateLimit = 10
/** New channels per client address per minute, for every instance (the default). */
export const openRateLimit = 30
/** The second instance's server timeouts: a stalled request is answered within seconds, not the default's minute. */
export const otherTimeouts = { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 }

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
  /** Quote once with the tokenizer before resolving (default), so no test measures its loading. */
  warmUp?: boolean
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
        VOUCHER_RATE_LIMIT: String(voucherRateLimit),
        OPEN_RATE_LIMIT: String(openRateLimit),
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
  if (options.warmUp === false) return { url, pid: gateway.pid!, stop }
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
    const base = { anvil, escrow, upstreamBaseUrl: upstream.baseUrl, databaseUrl: postgres.connectionString }
    const logFile = join(dir, 'gateway.log')
    const otherLogFile = join(dir, 'gateway-other.log')
    const gateways = [
      startGatewayProcess({ ...base, logFile }),
      startGatewayProcess({
        ...base,
        logFile: otherLogFile,
        env: { HEADERS_TIMEOUT_MS: String(otherTimeouts.headersTimeoutMs), REQUEST_TIMEOUT_MS: String(otherTimeouts.requestTimeoutMs) },
        // No test sends it the model quoted with the tokenizer.
        warmUp: false,
      }),
    ] as const
    for (const started of await Promise.allSettled(gateways)) if (started.status === 'fulfilled') stops.push(started.value.stop)
    const [gateway, other] = await Promise.all(gateways)
    const target: HostileTarget = {
      url: gateway.url,
      pid: gateway.pid,
      logFile,
      other: { url: other.url, pid: other.pid, logFile: otherLogFile },
      rpcUrl: anvil.rpcUrl,
      escrow,
      upstream: new URL(upstream.baseUrl).origin,
      databaseUrl: postgres.connectionString,
      dir,
    }
    return { target, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
