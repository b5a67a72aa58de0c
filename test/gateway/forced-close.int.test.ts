// The payee-safety attack, replayed end to end against the gateway as an
// operator runs it: `src/node.ts` in two processes on one PostgreSQL, anvil
// (Tempo mode) with the escrow, the fake OpenAI upstream. A payer pays for
// completions, calls requestClose on the escrow itself and keeps paying as fast
// as it can. The gateway must refuse it within seconds, settle what was spent
// (one settle transaction, whichever instance sends it), and after the grace
// period (skipped with evm_increaseTime) the payer's withdraw returns exactly
// deposit − settled. Then a restart: a close requested while every instance is
// down is followed by the first instance to come back, from the store's cursor.
import { spawn } from 'node:child_process'
import pg from 'pg'
import { type Address, encodeFunctionData, type Hex, http, type LocalAccount, toHex } from 'viem'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { sessionClient } from '../../src/client/session-client.js'
import { Receipt } from '../../src/protocol/receipt.js'
import type { ChannelState } from '../../src/session/channel.js'
import { decodeChannel, type EncodedChannel } from '../../src/stores/codec.js'
import {
  type Anvil,
  deployEscrow,
  pathUsdBalance,
  sendTempoCalls,
  startAnvil,
  testAccounts,
  testClient,
  zeroFees,
} from '../harness/local-chain.js'
import { type PostgresServer, startPostgres } from '../harness/postgres.js'
import { killOnExit, stopper, waitForOutput } from '../harness/processes.js'
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js'
import { chatRequest } from '../support/gateway.js'
import { repoRoot } from '../support/processes.js'

const bucket = 100_000n
const deposit = 1_000_000n
const gracePeriodSeconds = 900
// 10 prompt + 900 completion tokens at 10 and 20 a token: 18,100 a completion, five or so a bucket.
const model = 'usage:10,900'
const ask = (i: number) => chatRequest(model, { maxTokens: 900, content: `question ${i}` })
const payee = testAccounts[4]!

type Gateway = { url: string; stop: () => Promise<void>; stdout: () => string }

let postgres: PostgresServer
let anvil: Anvil
let upstream: FakeUpstream
let escrow: Address
let db: pg.Pool
const running: Gateway[] = []

/** `src/node.ts` in its own process, configured only by environment variables, the close watcher at its default interval. */
async function startGateway(env: Record<string, string> = {}): Promise<Gateway> {
  const child = killOnExit(
    spawn(process.execPath, ['--import', 'tsx', 'src/node.ts'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        PORT: '0',
        MPP_REALM: 'gateway.test',
        MPP_SECRET_KEY: 'forced-close-test-secret-key-32-bytes+',
        RPC_URL: anvil.rpcUrl,
        CHAIN_ID: String(anvil.chain.id),
        ESCROW_ADDRESS: escrow,
        PAYEE_PRIVATE_KEY: toHex(payee.getHdKey().privateKey!),
        UPSTREAM_BASE_URL: upstream.baseUrl,
        MODEL_CATALOGUE: JSON.stringify([{ id: model, inputTokenPrice: '10', outputTokenPrice: '20', maxOutputTokens: 900 }]),
        BUCKET_SIZE: bucket.toString(),
        DATABASE_URL: postgres.connectionString,
        OPEN_RATE_LIMIT: '1000',
        VOUCHER_RATE_LIMIT: '1000',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-200_000)))
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8_000)))
  const listening = await waitForOutput(child, /Gateway listening on (http:\/\/127\.0\.0\.1:\d+)/, {
    what: 'src/node.ts',
    timeoutMs: 60_000,
    diagnostics: () => stderr,
  })
  const gateway = { url: listening[1]!, stop: stopper(child), stdout: () => stdout }
  running.push(gateway)
  return gateway
}

beforeAll(async () => {
  ;[postgres, anvil, upstream] = await Promise.all([startPostgres(), startAnvil({ tempo: true }), startFakeUpstream()])
  escrow = await deployEscrow(testClient(anvil, testAccounts[3]!))
  db = new pg.Pool({ connectionString: postgres.connectionString, max: 2 })
}, 120_000)
// Each test's gateways stop with it: a watcher left running would follow the next test's channels.
afterEach(async () => {
  await Promise.all(running.splice(0).map((gateway) => gateway.stop()))
})
afterAll(async () => {
  await db?.end()
  await Promise.all([postgres?.stop(), anvil?.stop(), upstream?.stop()])
})

/** A payer whose requests go to each gateway in turn. */
function payer(index: number, gateways: readonly Gateway[], channelDeposit = deposit) {
  const account = testAccounts[index]! as LocalAccount
  let next = 0
  const spread = (input: string | URL | Request, init?: RequestInit) =>
    fetch(String(input).replace('http://gateway.test', gateways[next++ % gateways.length]!.url), init)
  const client = sessionClient({
    account,
    chain: anvil.chain,
    transport: http(anvil.rpcUrl),
    deposit: channelDeposit,
    fees: zeroFees,
    fetch: spread as typeof fetch,
  })
  return { account, address: account.address.toLowerCase() as Address, client }
}

const url = 'http://gateway.test/v1/mpp/chat/completions'

/** The payer's own escrow call on chain; resolves with its receipt once mined. */
function asPayer(account: LocalAccount, functionName: 'requestClose' | 'withdraw', channelId: Hex) {
  const data = encodeFunctionData({ abi: escrowAbi, functionName, args: [channelId] })
  return sendTempoCalls(testClient(anvil, account), [{ to: escrow, data }])
}

const chain = () => testClient(anvil, testAccounts[0]!)

async function settledEvents(channelId: Hex) {
  const events = await chain().getContractEvents({
    address: escrow,
    abi: escrowAbi,
    eventName: 'Settled',
    args: { channelId },
    fromBlock: 0n,
  })
  return events.map((event) => event.args.cumulativeAmount!)
}

/** A channel as the database holds it, decoded with the codec. */
async function storedChannel(channelId: Hex): Promise<ChannelState> {
  const { rows } = await db.query<{ state: EncodedChannel }>('SELECT state FROM mpp_channels WHERE id = $1', [channelId])
  return decodeChannel(rows[0]!.state)
}

/** The close watcher's cursor in PostgreSQL (one payee, one escrow: one row). */
async function cursorBlock(): Promise<bigint> {
  const { rows } = await db.query<{ block: string }>("SELECT block::text AS block FROM mpp_cursors WHERE name LIKE 'close-watch/%'")
  expect(rows.length).toBeLessThanOrEqual(1)
  return rows[0] === undefined ? -1n : BigInt(rows[0].block)
}

describe('a payer who requests a forced close and keeps paying', () => {
  it('is refused within seconds by two gateway instances on one PostgreSQL; what was spent is settled; withdraw returns exactly the rest', async () => {
    const gateways = await Promise.all([startGateway(), startGateway()])
    // A deposit the attack cannot use up before it is refused: a client that runs short tops up, which cancels the close.
    const channelDeposit = 5_000_000n
    const { account, address, client } = payer(5, gateways, channelDeposit)
    const payeeStart = await pathUsdBalance(chain(), payee.address)
    let spent = 0n
    for (let i = 0; i < 21; i++) {
      const response = await client.fetch(url, ask(i))
      expect(response.status).toBe(200)
      spent = BigInt(Receipt.parse(response.headers.get('Payment-Receipt')!).spent!)
    }
    const channelId = [...client.channels.values()][0]!.channelId
    const nonceBefore = await chain().getTransactionCount({ address: payee.address })

    await asPayer(account, 'requestClose', channelId)
    const requestedAt = performance.now()
    // The attack: keep paying, one completion after another, until refused.
    let servedAfter = 0
    let refused: Response | undefined
    while (refused === undefined && performance.now() - requestedAt < 30_000) {
      const response = await client.fetch(url, ask(100 + servedAfter))
      if (response.status === 200) {
        servedAfter++
        spent = BigInt(Receipt.parse(response.headers.get('Payment-Receipt')!).spent!)
      } else refused = response
    }
    const refusedMs = performance.now() - requestedAt
    expect(refused?.status).toBe(410)
    expect(await refused!.json()).toMatchObject({ code: 'mpp_channel_finalized', channelId })
    expect(refusedMs).toBeLessThan(5_000)

    await expect.poll(() => settledEvents(channelId), { timeout: 10_000, interval: 20 }).not.toEqual([])
    const settledMs = performance.now() - requestedAt
    // Both instances step at least twice more. A request in flight when the close was seen still commits, and may
    // make a higher voucher settleable, which is settled too: each voucher once, one transaction each, none refused.
    await new Promise((resolve) => setTimeout(resolve, 5_000))
    const settlements = await settledEvents(channelId)
    const settled = settlements.at(-1)!
    expect(settlements.every((amount, i) => i === 0 || amount > settlements[i - 1]!)).toBe(true)
    expect(await chain().getTransactionCount({ address: payee.address })).toBe(nonceBefore + settlements.length)

    // What was settled last: the highest accepted voucher not above spent (the client signs every bucket).
    const state = await storedChannel(channelId)
    expect(state.spent).toBe(spent)
    expect(state.settled).toBe(settled)
    expect(settled).toBe((spent / bucket) * bucket)
    expect(state.closeRequestedAt).toBeGreaterThan(0n)
    // The exposure bound under v1: served but not settleable is less than one voucher bucket.
    expect(spent - settled).toBeLessThan(bucket)
    // Either instance may have sent it; its log line says so.
    const lines = gateways
      .flatMap((gateway) => gateway.stdout().split('\n'))
      .filter((line) => line.includes('"settlement":"settled"'))
      .map((line) => JSON.parse(line) as { channelId: string; settled: string })
    expect(lines.length).toBeGreaterThanOrEqual(1)
    for (const line of lines) expect(settlements).toContain(BigInt(line.settled))

    // After the grace period the payer takes back everything unsettled; the payee keeps the settlement.
    await chain().request({ method: 'evm_increaseTime', params: [gracePeriodSeconds + 1] } as never)
    await chain().request({ method: 'evm_mine', params: [] } as never)
    const payerBefore = await pathUsdBalance(chain(), address)
    await asPayer(account, 'withdraw', channelId)
    expect((await pathUsdBalance(chain(), address)) - payerBefore).toBe(channelDeposit - settled)
    expect((await pathUsdBalance(chain(), payee.address)) - payeeStart).toBe(settled)

    console.log(
      JSON.stringify({
        figures: 'forced close, two instances, CLOSE_WATCH_INTERVAL_MS default',
        completionsBefore: 21,
        servedAfterRequestClose: servedAfter,
        msToRefusal: Math.round(refusedMs),
        msToSettleMined: Math.round(settledMs),
        spent: spent.toString(),
        settlements: settlements.map(String),
        unsettledServed: (spent - settled).toString(),
      }),
    )
  }, 120_000)

  it('sends exactly one settle transaction when two instances on one PostgreSQL see the same close request', async () => {
    const gateways = await Promise.all([startGateway(), startGateway()])
    const { account, client } = payer(8, gateways)
    for (let i = 0; i < 12; i++) expect((await client.fetch(url, ask(i))).status).toBe(200)
    const channelId = [...client.channels.values()][0]!.channelId
    const { spent } = await storedChannel(channelId)
    const nonceBefore = await chain().getTransactionCount({ address: payee.address })
    await asPayer(account, 'requestClose', channelId)
    await expect.poll(() => settledEvents(channelId), { timeout: 10_000, interval: 20 }).toEqual([(spent / bucket) * bucket])
    // Both watchers step at least twice more after it.
    await new Promise((resolve) => setTimeout(resolve, 5_000))
    expect(await settledEvents(channelId)).toEqual([(spent / bucket) * bucket])
    expect(await chain().getTransactionCount({ address: payee.address })).toBe(nonceBefore + 1)
    const logged = gateways.map((gateway) =>
      gateway
        .stdout()
        .split('\n')
        .filter((line) => line.includes(channelId))
        .map((line) => JSON.parse(line)),
    )
    // One instance settled; the other found it claimed (and kept its cursor) or already done.
    expect(logged.flat().filter((line) => line.settlement === 'settled')).toHaveLength(1)
  }, 120_000)

  it('is refused by the watcher alone within its interval when no new voucher is needed (one voucher for the whole deposit), and nothing is settleable then', async () => {
    // A deposit the attack cannot use up within the test: a client that runs short tops up, which cancels the close.
    const large = 20_000_000n
    const gateway = await startGateway({ BUCKET_SIZE: large.toString() })
    const { account, client } = payer(7, [gateway], large)
    for (let i = 0; i < 3; i++) expect((await client.fetch(url, ask(i))).status).toBe(200)
    const channelId = [...client.channels.values()][0]!.channelId
    await asPayer(account, 'requestClose', channelId)
    const requestedAt = performance.now()
    let servedAfter = 0
    let refused: Response | undefined
    while (refused === undefined && performance.now() - requestedAt < 30_000) {
      const response = await client.fetch(url, ask(100 + servedAfter))
      if (response.status === 200) servedAfter++
      else refused = response
    }
    const refusedMs = performance.now() - requestedAt
    expect(refused?.status).toBe(410)
    // One poll interval (2 s) and the step's own calls.
    expect(refusedMs).toBeLessThan(3_000)
    const state = await storedChannel(channelId)
    // The only voucher is above spent: nothing to settle, and what was served is the exposure (here all of it: one bucket).
    expect(await settledEvents(channelId)).toEqual([])
    expect(state.settled).toBe(0n)
    expect(state.spent).toBeLessThan(large)
    console.log(
      JSON.stringify({
        figures: 'forced close, one voucher for the deposit (watcher only)',
        servedAfterRequestClose: servedAfter,
        msToRefusal: Math.round(refusedMs),
        spent: state.spent.toString(),
      }),
    )
  }, 120_000)

  it('is followed after a restart: a close requested while every instance was down is settled by the first one back, from the cursor', async () => {
    const targets = [await startGateway()]
    const { account, client } = payer(6, targets)
    for (let i = 0; i < 12; i++) expect((await client.fetch(url, ask(i))).status).toBe(200)
    const channelId = [...client.channels.values()][0]!.channelId
    const { spent } = await storedChannel(channelId)
    // The watcher passes the latest block (a step every 2 s), then the gateway stops: its cursor stays in PostgreSQL.
    const head = await chain().getBlockNumber()
    await expect.poll(() => cursorBlock(), { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(head)
    await targets[0]!.stop()
    const requested = await asPayer(account, 'requestClose', channelId)
    for (let i = 0; i < 5; i++) await chain().request({ method: 'evm_mine', params: [] } as never)
    expect(await cursorBlock()).toBeLessThan(requested.blockNumber)

    targets[0] = await startGateway()
    await expect.poll(() => settledEvents(channelId), { timeout: 10_000, interval: 50 }).toEqual([(spent / bucket) * bucket])
    // Its log line follows the settlement's receipt and the chain read after it.
    const gateway = targets[0]
    const logged = () =>
      gateway
        .stdout()
        .split('\n')
        .filter((text) => text.includes('"event":"close_request"'))
        .map((text) => JSON.parse(text))
    await expect
      .poll(logged, { timeout: 5_000, interval: 50 })
      .toEqual([expect.objectContaining({ channelId, seen: 'requested', settlement: 'settled', handled: true })])
    await expect.poll(() => cursorBlock(), { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(requested.blockNumber + 5n)
    expect((await client.fetch(url, ask(100))).status).toBe(410)
  }, 120_000)
})
