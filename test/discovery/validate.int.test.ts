// The published client's validator against the real gateway: anvil in Tempo
// mode with our escrow, the Node entry (src/node.ts, configured from the
// environment: PGlite store, the offline local backend) as its own process,
// and `mppx validate` (mppx 0.11.0, test/interop) as a child process. It reads
// /openapi.json, probes the paid operation it finds there for a 402 challenge,
// sends a garbage credential, and pays only when told --yes.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Address, Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Anvil, deployEscrow, fundPathUsd, startAnvil, testAccounts, testClient } from '../harness/local-chain.js'
import { killOnExit, stopper, waitForOutput } from '../harness/processes.js'
import { repoRoot } from '../support/processes.js'

const mppx = join(repoRoot, 'test', 'interop', 'node_modules', '.bin', 'mppx')
const payerConfig = join(repoRoot, 'test', 'interop', 'mppx.config.mjs')

type Check = { label: string; detail?: string; severity: 'pass' | 'fail' | 'warn' | 'suggested' | 'skip' }
type Validation = {
  discovery: { found: boolean; valid: boolean; endpoints: { method: string; path: string }[]; checks: Check[] }
  endpoints: { method: string; path: string; challenge: Check[]; errorHandling: Check[]; payment: Check[] }[]
  summary: { passed: number; failed: number; warnings: number; suggested: number; skipped: number }
}

let anvil: Anvil
let gateway: ChildProcess
let stopGateway: () => Promise<void>
let url: string
let escrowAddress: Address
let payerKey: Hex
const gatewayLog: string[] = []
const dataDir = mkdtempSync(join(tmpdir(), 'mpp-discovery-pglite-'))

beforeAll(async () => {
  anvil = await startAnvil({ tempo: true })
  const funder = testClient(anvil, testAccounts[0]!)
  escrowAddress = await deployEscrow(funder)
  payerKey = generatePrivateKey()
  await fundPathUsd(funder, privateKeyToAccount(payerKey).address, 10_000_000n)
  gateway = killOnExit(
    spawn(process.execPath, ['--import', 'tsx', 'src/node.ts'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        PORT: '0',
        // The host the validator reaches the gateway at, so the challenge's realm matches it.
        MPP_REALM: '127.0.0.1',
        MPP_SECRET_KEY: 'discovery-validate-secret-of-32-bytes+',
        RPC_URL: anvil.rpcUrl,
        CHAIN_ID: String(anvil.chain.id),
        ESCROW_ADDRESS: escrowAddress,
        PAYEE_ADDRESS: testAccounts[4]!.address,
        PGLITE_DIR: dataDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  stopGateway = stopper(gateway)
  let stderr = ''
  gateway.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)))
  const listening = await waitForOutput(gateway, /Gateway listening on (http:\/\/127\.0\.0\.1:\d+)/, {
    what: 'src/node.ts',
    timeoutMs: 30_000,
    diagnostics: () => stderr,
  })
  url = listening[1]!
  // One JSON line per paid-route request (the payment layer's log).
  gateway.stdout!.on('data', (chunk: Buffer) => gatewayLog.push(...chunk.toString().split('\n').filter(Boolean)))
}, 90_000)

afterAll(async () => {
  await stopGateway?.()
  await anvil?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

/** Runs `mppx validate <url> --output-json …` with the local payer configured; resolves with its exit code and parsed report. */
function validate(...args: string[]): Promise<{ code: number; report: Validation }> {
  return new Promise((resolve, reject) => {
    execFile(
      mppx,
      ['validate', url, '--output-json', ...args],
      {
        cwd: join(repoRoot, 'test', 'interop'),
        env: {
          ...process.env,
          MPPX_CONFIG: payerConfig,
          MPPX_PAYER_PRIVATE_KEY: payerKey,
          MPPX_PAYER_RPC_URL: anvil.rpcUrl,
          MPPX_PAYER_ESCROW: escrowAddress,
        },
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : error.code
        if (typeof code !== 'number') return reject(new Error(`mppx validate did not exit normally: ${error?.message}\n${stderr}`))
        try {
          resolve({ code, report: JSON.parse(stdout) as Validation })
        } catch {
          reject(new Error(`mppx validate printed no JSON report (exit ${code}):\n${stdout}\n${stderr}`))
        }
      },
    )
  })
}

const passed = (...labels: string[]) => labels.map((label) => expect.objectContaining({ label, severity: 'pass' }))

describe('mppx validate against the gateway process', () => {
  it('finds the document valid and the paid operation a correct MPP endpoint, paying nothing without --yes', async () => {
    const { code, report } = await validate()
    expect(report.discovery).toMatchObject({ found: true, valid: true, endpoints: [{ method: 'POST', path: '/v1/mpp/chat/completions' }] })
    expect(report.discovery.checks).toEqual([
      // A suggestion only (the gateway serves no /llms.txt); it does not fail validation.
      expect.objectContaining({ label: 'llms.txt found and nonempty', severity: 'suggested' }),
      ...passed('Document found and parseable', 'Valid OpenAPI structure', 'Paid endpoints found'),
    ])
    const [endpoint] = report.endpoints
    expect(report.endpoints).toHaveLength(1)
    expect(endpoint!.challenge).toEqual(
      passed(
        'Returns 402 without credentials',
        'WWW-Authenticate header present',
        'Challenge parseable',
        'Challenge has id',
        'Challenge has realm',
        'Challenge expires in the future',
        'Realm matches server hostname',
        'Valid recipient address',
        'Valid currency address',
        'Amount is valid integer string',
      ),
    )
    expect(endpoint!.challenge[2]).toMatchObject({ detail: 'tempo/session' })
    expect(endpoint!.errorHandling).toEqual(passed('Malformed credential returns 402', 'Error response includes fresh challenge'))
    // The configured payer is used, not the public faucet; a payment needs approval.
    expect(endpoint!.payment).toEqual([
      { label: 'Payment [tempo]', detail: 'non-interactive mode, use --yes to approve', severity: 'skip' },
    ])
    expect(report.summary).toMatchObject({ failed: 0, warnings: 0 })
    expect(code).toBe(0)
  }, 120_000)

  // mppx 0.11's session client signs its opening voucher for the challenge's
  // `amount`: the gateway offers a completion as one request priced at its
  // quote, so that voucher pays it and the validator's payment goes through.
  it('with --yes, pays a completion through the published client and checks its receipt', async () => {
    const logged = gatewayLog.length
    const { code, report } = await validate('--yes')
    const payment = report.endpoints[0]!.payment
    expect(payment.filter((check) => check.severity === 'fail')).toEqual([])
    expect(payment).toContainEqual(expect.objectContaining({ label: expect.stringMatching(/Payment.*successful/), severity: 'pass' }))
    const codes = gatewayLog.slice(logged).map((line) => (JSON.parse(line) as { code: string }).code)
    expect(codes.at(-1)).toBe('paid')
    expect(code).toBe(0)
  }, 120_000)
})
