// Issue 17's acceptance: a burst of 50 concurrent paid requests with the
// project's session client, on a bucket small enough that vouchers advance
// during the burst, so requests carry the same new voucher at once (the client
// signs each bucket once; requests asking for the same bucket reuse it). Run
// against the two real entries on anvil: the Node entry (`src/node.ts` in its
// own process, on PostgreSQL) and the Worker under `wrangler dev` (Durable
// Objects). Every request ends served; no voucher is ever refused as not
// increasing; no copy of a voucher is rate limited (the limit, 30 a second per
// channel, is above the distinct vouchers a burst signs and below its
// requests); and the accounting holds (every 200 has a receipt, spent is the
// sum of the charges, accepted ≤ deposit, the close captures exactly spent).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { http, type LocalAccount, toHex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sessionClient } from '../../src/client/session-client.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { type Anvil, deployEscrow, startAnvil, testAccounts, testClient, zeroFees } from '../harness/local-chain.js'
import { type PostgresServer, startPostgres } from '../harness/postgres.js'
import { killOnExit, stopper, waitForOutput } from '../harness/processes.js'
import { wranglerDev, wranglerDevReady } from '../harness/wrangler-dev.js'
import { closedPort } from '../support/ports.js'
import { repoRoot } from '../support/processes.js'

const burstSize = 50
const path = '/v1/mpp/chat/completions'
const payee = testAccounts[4]!

let anvil: Anvil
let escrowAddress: `0x${string}`
let postgres: PostgresServer
const stops: (() => Promise<void>)[] = []
beforeAll(async () => {
  ;[anvil, postgres] = await Promise.all([startAnvil({ tempo: true }), startPostgres()])
  stops.push(anvil.stop, postgres.stop)
  escrowAddress = await deployEscrow(testClient(anvil, testAccounts[3]!))
}, 120_000)
afterAll(async () => {
  for (const stop of stops.reverse()) await stop()
})

/** The gateway's variables (README: configuration), the same for both entries. */
const gatewayEnv = () => ({
  MPP_REALM: 'burst.test',
  MPP_SECRET_KEY: 'same-voucher-burst-secret-of-32-bytes+',
  RPC_URL: anvil.rpcUrl,
  CHAIN_ID: String(anvil.chain.id),
  ESCROW_ADDRESS: escrowAddress,
  PAYEE_PRIVATE_KEY: toHex(payee.getHdKey().privateKey!),
  // About four completions a bucket: a burst of 50 crosses a dozen buckets.
  BUCKET_SIZE: '2000',
  VOUCHER_RATE_LIMIT: '30',
})

type Target = { url: string; stop: () => Promise<void>; output: () => string }

/** `src/node.ts` in its own process, configured by its environment, on PostgreSQL. */
async function startNodeEntry(): Promise<Target> {
  const child = killOnExit(
    spawn(process.execPath, ['--import', 'tsx', 'src/node.ts'], {
      cwd: repoRoot,
      env: { ...process.env, ...gatewayEnv(), PORT: '0', DATABASE_URL: postgres.connectionString },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  let output = ''
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-16_000))
  child.stderr!.on('data', keep)
  const listening = await waitForOutput(child, /Gateway listening on (http:\/\/127\.0\.0\.1:\d+)/, {
    what: 'src/node.ts',
    timeoutMs: 90_000,
    diagnostics: () => output,
  })
  child.stdout!.on('data', keep)
  return { url: listening[1]!, stop: stopper(child), output: () => output }
}

/**
 * `wrangler dev` on src/worker.ts (wrangler.toml), local only: Durable Objects
 * in a temporary directory, the variables as `--var`. Its own process group,
 * so stopping it stops the workerd it runs too.
 */
async function startWranglerDev(): Promise<Target> {
  const persist = mkdtempSync(join(tmpdir(), 'mpp-wrangler-'))
  const port = await closedPort()
  const command = wranglerDev({ port, persistTo: persist, vars: gatewayEnv() })
  const child = killOnExit(
    spawn(process.execPath, command.args, {
      cwd: repoRoot,
      env: { ...process.env, ...command.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    }),
  )
  let output = ''
  child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-16_000)))
  const group = child.pid!
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-group, 'SIGTERM')
      const timer = setTimeout(() => process.kill(-group, 'SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
    rmSync(persist, { recursive: true, force: true })
  }
  try {
    await waitForOutput(child, wranglerDevReady, {
      what: 'wrangler dev',
      timeoutMs: 120_000,
      diagnostics: () => output,
    })
  } catch (error) {
    await stop()
    throw error
  }
  child.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-16_000)))
  return { url: `http://127.0.0.1:${port}`, stop, output: () => output }
}

/** What crossed the wire: each paid attempt's voucher, and each refusal's code and numbers. */
type Exchange = { voucher?: { amount: bigint; signature: string }; status: number; code?: string; acceptedCumulative?: bigint }

const ask = (i: number) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ model: 'local-echo', max_tokens: 16, messages: [{ role: 'user', content: `question number ${i}` }] }),
})

/** Opens a channel with one request, then sends `burstSize` requests at once; returns what happened. */
async function burst(target: Target, payerIndex: number) {
  const exchanges: Exchange[] = []
  const recording = (async (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers)
    const value = headers.get('Authorization') ?? headers.get('Payment-Authorization')
    const payload = value === null ? undefined : (Credential.parse(value).payload as Record<string, string>)
    const response = await fetch(input, init)
    const exchange: Exchange = { status: response.status }
    if (payload?.action === 'voucher' || payload?.action === 'open') {
      exchange.voucher = { amount: BigInt(payload.cumulativeAmount!), signature: payload.signature! }
    }
    if (response.status !== 200) {
      const problem = (await response
        .clone()
        .json()
        .catch(() => ({}))) as Record<string, string | undefined>
      if (problem.code !== undefined) exchange.code = problem.code
      if (problem.acceptedCumulative !== undefined) exchange.acceptedCumulative = BigInt(problem.acceptedCumulative)
    }
    exchanges.push(exchange)
    return response
  }) as typeof fetch
  const client = sessionClient({
    account: testAccounts[payerIndex]! as LocalAccount,
    chain: anvil.chain,
    transport: http(anvil.rpcUrl),
    deposit: 1_000_000n,
    fees: zeroFees,
    fetch: recording,
  })
  const url = `${target.url}${path}`
  const charged = async (response: Response) => {
    expect(response.status, await response.clone().text()).toBe(200)
    const { usage } = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }
    return {
      receipt: Receipt.parse(response.headers.get('Payment-Receipt')!),
      charge: BigInt(usage.prompt_tokens) * 10n + BigInt(usage.completion_tokens) * 20n,
    }
  }
  const opening = await charged(await client.fetch(url, ask(0)))
  const started = performance.now()
  const outcomes = await Promise.allSettled(Array.from({ length: burstSize }, (_, i) => client.fetch(url, ask(i + 1))))
  const elapsedMs = performance.now() - started
  const failed = outcomes.flatMap((outcome, i) => (outcome.status === 'rejected' ? [`request ${i + 1}: ${String(outcome.reason)}`] : []))
  expect(failed).toEqual([])
  const served = await Promise.all(outcomes.map((outcome) => charged((outcome as PromiseFulfilledResult<Response>).value)))
  const close = await client.close(url, ask(0))
  return { exchanges, opening, served, close, elapsedMs }
}

/** Checks the burst (`deposit`: the channel's, no top-up expected) and logs its figures. */
function judge(name: string, result: Awaited<ReturnType<typeof burst>>, deposit: bigint) {
  const { exchanges, opening, served, close } = result
  // Served, each charged once, in turn: every receipt's `spent` distinct, the last the sum of every charge.
  const spents = served.map(({ receipt }) => BigInt(receipt.spent!))
  expect(new Set(spents).size).toBe(burstSize)
  const total = opening.charge + served.reduce((sum, { charge }) => sum + charge, 0n)
  expect(spents.reduce((max, spent) => (spent > max ? spent : max), 0n)).toBe(total)
  const accepted = served.map(({ receipt }) => BigInt(receipt.acceptedCumulative!))
  for (const amount of accepted) expect(amount <= deposit).toBe(true)
  // The close captures exactly what was spent.
  expect(BigInt(close.spent!)).toBe(total)
  expect(close.txHash).toMatch(/^0x[0-9a-f]{64}$/)

  // Never refused as not increasing: a voucher refused by verification was below what was accepted when it arrived.
  const refusedVouchers = exchanges.filter((exchange) => exchange.code === 'mpp_payment_verification_failed')
  for (const refusal of refusedVouchers) expect(refusal.acceptedCumulative! > refusal.voucher!.amount).toBe(true)
  // No 429: the limit is above the distinct vouchers signed, so a 429 could only come from copies.
  expect(exchanges.filter((exchange) => exchange.status === 429)).toEqual([])
  const paid = exchanges.filter((exchange) => exchange.voucher !== undefined)
  const copies = new Map<string, number>()
  for (const { voucher } of paid)
    copies.set(`${voucher!.amount}|${voucher!.signature}`, (copies.get(`${voucher!.amount}|${voucher!.signature}`) ?? 0) + 1)
  const figures = {
    target: name,
    requests: burstSize,
    elapsedMs: Math.round(result.elapsedMs),
    paidAttempts: paid.length,
    distinctVouchers: copies.size,
    mostCopiesOfOneVoucher: Math.max(...copies.values()),
    staleVoucherRefusals: refusedVouchers.length,
    answers: exchanges.reduce<Record<string, number>>((counts, { status, code }) => {
      const key = `${status} ${code ?? ''}`.trim()
      counts[key] = (counts[key] ?? 0) + 1
      return counts
    }, {}),
    spent: total.toString(),
    finalAccepted: accepted.reduce((max, amount) => (amount > max ? amount : max), 0n).toString(),
  }
  console.log(`same-voucher burst: ${JSON.stringify(figures)}`)
  // The burst did make requests race with the same voucher.
  expect(figures.mostCopiesOfOneVoucher).toBeGreaterThan(1)
}

describe('a burst of 50 concurrent paid requests sharing vouchers', () => {
  it('the Node entry (src/node.ts on PostgreSQL): every request served, none refused as not increasing, none rate limited, accounting exact', async () => {
    const target = await startNodeEntry()
    stops.push(target.stop)
    const result = await burst(target, 5)
    judge('node', result, 1_000_000n)
  }, 240_000)

  it('the Worker under wrangler dev (Durable Objects): every request served, none refused as not increasing, none rate limited, accounting exact', async () => {
    const target = await startWranglerDev()
    stops.push(target.stop)
    const result = await burst(target, 6)
    judge('wrangler dev', result, 1_000_000n)
  }, 300_000)
})
