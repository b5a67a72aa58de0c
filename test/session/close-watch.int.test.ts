// The close watcher against anvil: a payer's on-chain requestClose is seen in
// one step, the channel refused from then on, what was spent settled at once
// (the highest accepted voucher not above `spent`), and after the grace period
// (skipped with evm_increaseTime) the payer's withdraw gets exactly the rest.
// Then: a new voucher re-reads the chain inside the cache window, a top-up
// cancels the close, a restarted or failed watcher resumes from the store's
// cursor, requests in flight commit and get settled, and two instances on one
// store send one settlement.
import { Hono } from 'hono'
import { custom, encodeFunctionData, type Hex, http, type LocalAccount, type Transport } from 'viem'
import { afterAll, describe, expect, it } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { pathUsdAddress, tip20Abi } from '../../contracts-abi/tip20.js'
import { sessionClient } from '../../src/client/session-client.js'
import { PaymentError } from '../../src/errors/payment-error.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import { paymentErrorHandler } from '../../src/middleware/error-handler.js'
import { payment } from '../../src/middleware/payment.js'
import { fixedPrice } from '../../src/payment/pricing.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { type CloseWatchLine, closeWatcher } from '../../src/session/close-watch.js'
import { tempoSession } from '../../src/session/engine.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { memoryStore } from '../../src/stores/memory.js'
import { pathUsdBalance, sendTempoCalls, testAccounts, testClient, zeroFees } from '../harness/local-chain.js'
import { price, type SessionFixture, secretKey, settledAmounts, startSession } from '../support/session.js'

const url = 'http://gateway.test/v1/paid'
const request = { method: 'POST', body: '{}' }
const bucket = 3n * price
const deposit = 3_000_000n
const gracePeriodSeconds = 900

const fixtures: SessionFixture[] = []
afterAll(async () => {
  await Promise.all(fixtures.map((fixture) => fixture.stop()))
})
/** A session on its own anvil whose vouchers come in buckets of three requests; a chain read stays cached for a minute. */
async function fixture(method: NonNullable<Parameters<typeof startSession>[0]>['method'] = {}) {
  const started = await startSession({ method: { bucketSize: bucket, chainCacheTtl: 60_000, ...method } })
  fixtures.push(started)
  return started
}

/** A watcher over the fixture's engine, escrow and store that records what it logs and what fails. */
function watch(session: SessionFixture, engine: Parameters<typeof closeWatcher>[0]['session'] = session.method) {
  const lines: CloseWatchLine[] = []
  const errors: unknown[] = []
  const watcher = closeWatcher({
    session: engine,
    events: session.escrow,
    cursors: session.store,
    log: (line) => lines.push(line),
    onError: (error) => errors.push(error),
  })
  return { watcher, lines, errors }
}

/** A payer (anvil account `index`) with a channel of `deposit` that paid `requests` requests. */
async function payingPayer(session: SessionFixture, index: number, requests: number) {
  const payer = await session.payer(index, { deposit })
  for (let i = 0; i < requests; i++) expect((await payer.client.fetch(url, request)).status).toBe(200)
  const channelId = [...payer.client.channels.values()][0]!.channelId
  return { ...payer, channelId }
}

/** The payer's own escrow call, sent on chain (`requestClose`, `withdraw`, or `topUp` after approving the token). */
async function asPayer(session: SessionFixture, account: LocalAccount, call: 'requestClose' | 'withdraw' | 'topUp', channelId: Hex) {
  const wallet = testClient(session.anvil, account)
  const escrowCall = {
    to: session.escrowAddress,
    data:
      call === 'topUp'
        ? encodeFunctionData({ abi: escrowAbi, functionName: 'topUp', args: [channelId, 1_000_000n] })
        : encodeFunctionData({ abi: escrowAbi, functionName: call, args: [channelId] }),
  }
  const approve = {
    to: pathUsdAddress,
    data: encodeFunctionData({ abi: tip20Abi, functionName: 'approve', args: [session.escrowAddress, 1_000_000n] }),
  }
  return sendTempoCalls(wallet, call === 'topUp' ? [approve, escrowCall] : [escrowCall])
}

async function skipGracePeriod(session: SessionFixture) {
  await session.chain.request({ method: 'evm_increaseTime', params: [gracePeriodSeconds + 1] } as never)
  await session.chain.request({ method: 'evm_mine', params: [] } as never)
}

const payeeNonce = (session: SessionFixture) => session.chain.getTransactionCount({ address: session.payeeAddress })

/** An engine on the fixture's store whose escrow (a viemEscrow of its own) records every RPC method it calls. */
/** The escrow adapter of the fixture's payee (anvil account 4), over `transport` (default: the anvil's RPC URL). */
function payeeEscrow(session: SessionFixture, transport?: Transport) {
  return viemEscrow({
    address: session.escrowAddress,
    chain: session.anvil.chain,
    ...(transport ? { transport } : { rpcUrl: session.anvil.rpcUrl }),
    payee: testAccounts[4]!,
    fees: zeroFees,
    pollingIntervalMs: 10,
  })
}

function countedEngine(session: SessionFixture, options: { voucherReadTtl?: number } = {}) {
  const calls: string[] = []
  const rpc = http(session.anvil.rpcUrl)({ chain: session.anvil.chain })
  const counted = custom({
    request(args) {
      calls.push(args.method)
      return rpc.request(args)
    },
  })
  const escrow = payeeEscrow(session, counted)
  const engine = tempoSession({
    escrow,
    store: session.store,
    recipient: session.payeeAddress,
    currency: pathUsdAddress,
    bucketSize: bucket,
    chainCacheTtl: 60_000,
    ...options,
  })
  return { escrow, engine, calls }
}

/** The paid route on `engine`, and a route whose handler waits for `gate` (a request held in flight). */
function appFor(session: SessionFixture, engine: ReturnType<typeof tempoSession>, gate: Promise<void> = Promise.resolve()) {
  const paid = payment({ realm: 'gateway.test', secretKey, method: engine, challenges: session.store, pricing: fixedPrice(price) })
  const app = new Hono()
  app.onError(paymentErrorHandler)
  app.post('/v1/paid', paid, (c) => c.json({ ok: true }))
  app.post('/v1/slow', paid, async (c) => {
    await gate
    return c.json({ ok: true })
  })
  return app
}

describe('the close watcher', () => {
  it("sees a payer's requestClose in one step, refuses the channel, settles what was spent; after the grace period the payer withdraws exactly the rest", async () => {
    const session = await fixture()
    const { watcher, lines, errors } = watch(session)
    expect((await watcher.step()).events).toBe(0) // the cursor now stands at the latest block
    const payeeStart = await pathUsdBalance(session.chain, session.payeeAddress)
    // Four requests: vouchers for 300000 and 600000 (buckets of three), 400000 spent.
    const payer = await payingPayer(session, 5, 4)
    await asPayer(session, payer.account, 'requestClose', payer.channelId)
    // Until the watcher looks, the cached channel still serves what the accepted voucher covers: the window it closes.
    expect((await payer.client.fetch(url, request)).status).toBe(200)

    const step = await watcher.step()
    expect(step.events).toBe(1)
    expect(lines).toEqual([
      {
        event: 'close_request',
        channelId: payer.channelId,
        seen: 'requested',
        state: 'close_requested',
        settlement: 'settled',
        txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
        settled: '300000',
        handled: true,
      },
    ])
    expect(errors).toEqual([])
    expect(step.cursor).toBe(step.toBlock)
    // No more service: the error contract's code for a pending forced close.
    const refused = await payer.client.fetch(url, request)
    expect(refused.status).toBe(410)
    expect(await refused.json()).toMatchObject({ code: 'mpp_channel_finalized', channelId: payer.channelId })

    // Settled: the highest accepted voucher not above spent (500000 spent; vouchers 300000 and 600000).
    const state = (await session.store.getChannel(payer.channelId))!
    expect(state).toMatchObject({ spent: 500_000n, acceptedCumulative: 600_000n, settled: 300_000n })
    expect(state.closeRequestedAt).toBeGreaterThan(0n)
    expect(await settledAmounts(session, payer.channelId)).toEqual([300_000n])
    // The exposure bound under v1: what was served but cannot be settled is less than one voucher bucket.
    expect(state.spent - state.settled).toBeLessThan(bucket)

    // The grace period passes; the payer takes back everything unsettled, the payee keeps what was settled.
    await expect(asPayer(session, payer.account, 'withdraw', payer.channelId)).rejects.toThrow(/reverted/)
    await skipGracePeriod(session)
    const payerBefore = await pathUsdBalance(session.chain, payer.address)
    await asPayer(session, payer.account, 'withdraw', payer.channelId)
    expect((await pathUsdBalance(session.chain, payer.address)) - payerBefore).toBe(deposit - 300_000n)
    expect((await pathUsdBalance(session.chain, session.payeeAddress)) - payeeStart).toBe(300_000n)
  })

  it('re-reads the chain before accepting a voucher above the accepted amount once the read is older than voucherReadTtl, inside the chain cache window', async () => {
    const guarded = await fixture({ voucherReadTtl: 100 })
    const unguarded = await fixture({ voucherReadTtl: 60_000 })
    for (const session of [guarded, unguarded]) {
      // Three requests use up the first voucher (300000); the fourth needs a new one.
      const payer = await payingPayer(session, 5, 3)
      await asPayer(session, payer.account, 'requestClose', payer.channelId)
      await new Promise((resolve) => setTimeout(resolve, 150))
      const next = await payer.client.fetch(url, request)
      const state = (await session.store.getChannel(payer.channelId))!
      if (session === guarded) {
        expect(next.status).toBe(410)
        expect(await next.json()).toMatchObject({ code: 'mpp_channel_finalized' })
        expect(state).toMatchObject({ acceptedCumulative: 300_000n, spent: 300_000n })
        expect(state.closeRequestedAt).toBeGreaterThan(0n)
      } else {
        // Without the rule, the cached read lets the voucher through: service goes on after the request.
        expect(next.status).toBe(200)
        expect(state).toMatchObject({ acceptedCumulative: 600_000n, spent: 400_000n, closeRequestedAt: 0n })
      }
    }
  })

  it('shares one chain read among concurrent new vouchers on a channel whose read is older than voucherReadTtl', async () => {
    const session = await fixture()
    const { engine, calls } = countedEngine(session, { voucherReadTtl: 100 })
    const app = appFor(session, engine)
    const account = testAccounts[5]! as LocalAccount
    const client = sessionClient({
      account,
      chain: session.anvil.chain,
      transport: http(session.anvil.rpcUrl),
      deposit,
      fees: zeroFees,
      fetch: async (input, init) => app.fetch(new Request(input as string, init)),
    })
    expect((await client.fetch(url, request)).status).toBe(200)
    const channel = [...client.channels.values()][0]!
    await new Promise((resolve) => setTimeout(resolve, 150))
    const context = { chainId: session.anvil.chain.id, escrow: session.escrowAddress }
    const burst = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const unpaid = await app.request('/v1/paid', { method: 'POST', body: '{}' })
        const challenge = Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge
        const cumulativeAmount = bucket + BigInt(i + 1) * 1_000n
        const signature = await signVoucher(account, context, { channelId: channel.channelId, cumulativeAmount })
        const payload = { action: 'voucher', channelId: channel.channelId, cumulativeAmount: cumulativeAmount.toString(), signature }
        return { method: 'POST', body: '{}', headers: { Authorization: Credential.format({ challenge, payload }) } }
      }),
    )
    calls.length = 0
    const responses = await Promise.all(burst.map((init) => app.request('/v1/paid', init)))
    expect(responses.some((response) => response.status === 200)).toBe(true)
    // getChannel is the only eth_call on this path: one read, shared by the ten.
    expect(calls.filter((method) => method === 'eth_call')).toEqual(['eth_call'])
  })

  it('reopens the channel when a top-up cancels the close request (CloseRequestCancelled)', async () => {
    const session = await fixture()
    const { watcher, lines } = watch(session)
    await watcher.step()
    const payer = await payingPayer(session, 6, 2)
    await asPayer(session, payer.account, 'requestClose', payer.channelId)
    await watcher.step()
    expect((await payer.client.fetch(url, request)).status).toBe(410)
    // Only the opening voucher (300000) is accepted and it is above spent (200000): nothing to settle yet.
    expect(lines.at(-1)).toMatchObject({ seen: 'requested', state: 'close_requested', settlement: 'nothing', handled: true })

    await asPayer(session, payer.account, 'topUp', payer.channelId)
    await watcher.step()
    expect(lines.at(-1)).toMatchObject({ channelId: payer.channelId, seen: 'cancelled', state: 'open', handled: true })
    expect(await session.store.getChannel(payer.channelId)).toMatchObject({ closeRequestedAt: 0n, deposit: deposit + 1_000_000n })
    expect((await payer.client.fetch(url, request)).status).toBe(200)
  })

  it('keeps the cursor before a close request the chain read does not show (logs served ahead of the read)', async () => {
    const session = await fixture()
    const { watcher: real, lines } = watch(session)
    await real.step()
    const payer = await payingPayer(session, 6, 2)
    const requested = await asPayer(session, payer.account, 'requestClose', payer.channelId)
    await asPayer(session, payer.account, 'topUp', payer.channelId)
    // A log source that has the request but not yet its cancellation: the chain read (no request pending) disagrees.
    const ahead = closeWatcher({
      session: session.method,
      events: {
        ...session.escrow,
        closeEvents: async (...args) => (await session.escrow.closeEvents(...args)).filter((event) => event.kind === 'requested'),
      },
      cursors: session.store,
      log: () => {},
    })
    const held = await ahead.step()
    expect(held.lines).toEqual([expect.objectContaining({ channelId: payer.channelId, seen: 'requested', state: 'open', handled: false })])
    expect(held.cursor).toBe(requested.blockNumber - 1n)
    // The full logs end with the cancellation, which the read confirms: finished, the cursor passes it.
    const step = await real.step()
    expect(lines.at(-1)).toMatchObject({ channelId: payer.channelId, seen: 'cancelled', state: 'open', handled: true })
    expect(step.cursor).toBe(step.toBlock)
    expect((await payer.client.fetch(url, request)).status).toBe(200)
  })

  it('resumes from the cursor in the store after a restart, and holds the cursor before an event it could not finish', async () => {
    const session = await fixture()
    const first = watch(session)
    const { cursor } = await first.watcher.step()
    const payer = await payingPayer(session, 7, 4)
    // The watcher is down (a restart) while the payer requests the close and more blocks pass.
    const requested = await asPayer(session, payer.account, 'requestClose', payer.channelId)
    for (let i = 0; i < 3; i++) await session.chain.request({ method: 'evm_mine', params: [] } as never)

    // A process whose chain reads fail (its RPC is down) sees the event but cannot follow it: the cursor stays before it.
    const unreachable = viemEscrow({
      address: session.escrowAddress,
      chain: session.anvil.chain,
      rpcUrl: 'http://127.0.0.1:1',
      payee: testAccounts[4]!,
      timeoutMs: 1_000,
    })
    const cut = tempoSession({ escrow: unreachable, store: session.store, recipient: session.payeeAddress, currency: pathUsdAddress })
    const failing = watch(session, cut)
    const held = await failing.watcher.step()
    expect(held.fromBlock).toBe(cursor! + 1n)
    expect(held.lines).toEqual([expect.objectContaining({ channelId: payer.channelId, state: 'failed', handled: false })])
    expect(failing.errors).toEqual([expect.any(PaymentError)])
    expect((failing.errors[0] as PaymentError).code).toBe('mpp_chain_unavailable')
    expect(held.cursor).toBe(requested.blockNumber - 1n)

    // A restarted gateway: a new engine and escrow on the same store, and a new watcher; it starts where the store says.
    const escrow = payeeEscrow(session)
    const restarted = tempoSession({ escrow, store: session.store, recipient: session.payeeAddress, currency: pathUsdAddress })
    const resumed = watch(session, restarted)
    const step = await resumed.watcher.step()
    expect(step.fromBlock).toBe(requested.blockNumber)
    expect(step.lines).toEqual([expect.objectContaining({ channelId: payer.channelId, settlement: 'settled', settled: '300000' })])
    expect(step.cursor).toBe(step.toBlock)
    expect(await settledAmounts(session, payer.channelId)).toEqual([300_000n])
    expect((await resumed.watcher.step()).events).toBe(0)

    // A store without a cursor (a first start): the step looks back lookbackBlocks from the latest block.
    const fresh = closeWatcher({
      session: session.method,
      events: session.escrow,
      cursors: memoryStore(),
      lookbackBlocks: 5,
      log: () => {},
    })
    const firstStep = await fresh.step()
    expect(firstStep.toBlock - firstStep.fromBlock).toBe(4n)
  })

  it('lets requests in flight when the close is seen commit, and settles the voucher their charges make settleable', async () => {
    const session = await fixture()
    const { watcher } = watch(session)
    await watcher.step()
    let release = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const app = appFor(session, session.method, gate)
    const account = testAccounts[8]! as LocalAccount
    const client = sessionClient({
      account,
      chain: session.anvil.chain,
      transport: http(session.anvil.rpcUrl),
      deposit,
      fees: zeroFees,
      fetch: async (input, init) => app.fetch(new Request(input as string, init)),
    })
    for (let i = 0; i < 4; i++) expect((await client.fetch(url, request)).status).toBe(200)
    const channelId = [...client.channels.values()][0]!.channelId
    // Two requests reserved and waiting on their handler: spent 400000, reserved 200000, accepted 600000.
    const inFlight = [client.fetch('http://gateway.test/v1/slow', request), client.fetch('http://gateway.test/v1/slow', request)]
    await expect
      .poll(async () => Object.keys((await session.store.getChannel(channelId))!.reservations).length, { timeout: 5_000, interval: 20 })
      .toBe(2)

    await asPayer(session, account, 'requestClose', channelId)
    expect((await watcher.step()).lines).toEqual([expect.objectContaining({ settlement: 'settled', settled: '300000' })])
    expect((await client.fetch(url, request)).status).toBe(410)
    release()
    expect((await Promise.all(inFlight)).map((response) => response.status)).toEqual([200, 200])
    // Their commits brought spent to 600000, which the 600000 voucher now settles in full.
    await expect.poll(() => settledAmounts(session, channelId), { timeout: 5_000, interval: 20 }).toEqual([300_000n, 600_000n])
    await expect
      .poll(async () => (await session.store.getChannel(channelId))!, { timeout: 5_000, interval: 20 })
      .toMatchObject({ spent: 600_000n, settled: 600_000n })
  })

  it('costs two RPC calls a poll (the latest block, the logs of the new blocks), one when no block passed', async () => {
    const session = await fixture()
    const { escrow, engine, calls } = countedEngine(session)
    const watcher = closeWatcher({ session: engine, events: escrow, cursors: session.store, log: () => {} })
    await watcher.step()
    await session.chain.request({ method: 'evm_mine', params: [] } as never)
    calls.length = 0
    await watcher.step()
    expect(calls).toEqual(['eth_blockNumber', 'eth_getLogs'])
    calls.length = 0
    await watcher.step()
    expect(calls).toEqual(['eth_blockNumber'])

    // Following a close request adds the channel's chain read and the settlement's calls, once per event.
    const payer = await payingPayer(session, 5, 4)
    await asPayer(session, payer.account, 'requestClose', payer.channelId)
    calls.length = 0
    expect((await watcher.step()).lines).toEqual([expect.objectContaining({ settlement: 'settled' })])
    expect(calls.slice(0, 3)).toEqual(['eth_blockNumber', 'eth_getLogs', 'eth_call'])
    expect(calls).toContain('eth_sendRawTransaction')
    console.log(JSON.stringify({ figures: 'RPC calls of a step that follows one close request', calls: calls.length, methods: calls }))
  })

  it('sends one settlement when two instances on one store see the same close request', async () => {
    const session = await fixture()
    const instances = [0, 1].map(() => {
      const escrow = payeeEscrow(session)
      const engine = tempoSession({ escrow, store: session.store, recipient: session.payeeAddress, currency: pathUsdAddress })
      return closeWatcher({ session: engine, events: escrow, cursors: session.store, log: () => {} })
    })
    await instances[0]!.step()
    const payer = await payingPayer(session, 9, 4)
    const nonceBefore = await payeeNonce(session)
    await asPayer(session, payer.account, 'requestClose', payer.channelId)
    const steps = await Promise.all(instances.map((instance) => instance.step()))
    const outcomes = steps.flatMap((step) => step.lines.map((line) => line.settlement)).sort()
    // One sends; the other finds the settlement claimed (busy: it keeps the cursor and looks again) or already done.
    expect(outcomes[0] === 'busy' || outcomes[0] === 'nothing').toBe(true)
    expect(outcomes[1]).toBe('settled')
    // The shared cursor has passed the event: whichever finished it, neither instance sees it again.
    for (const instance of instances) expect((await instance.step()).events).toBe(0)
    expect(await settledAmounts(session, payer.channelId)).toEqual([300_000n])
    expect(await payeeNonce(session)).toBe(nonceBefore + 1)
    expect((await session.escrow.getChannel(payer.channelId))!.settled).toBe(300_000n)
  })
})
