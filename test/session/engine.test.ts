// The session engine without a web framework and without a chain: the
// framework-free payment handler in front of `tempoSession`, the memory store
// and the in-memory escrow. Fast, so it drives the failure paths a real chain
// makes hard to reach on demand: the RPC down, a revert, a timeout.
import { encodeFunctionData, type Hex, keccak256 } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { paymentHandler } from '../../src/payment/handler.js'
import { fixedPrice } from '../../src/payment/pricing.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { tempoSession } from '../../src/session/engine.js'
import { computeChannelId } from '../../src/session/v1/channel-id.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { memoryStore } from '../../src/stores/memory.js'
import { memoryChainId, memoryEscrow, memoryEscrowAddress } from '../support/memory-escrow.js'

const payee = '0x2222222222222222222222222222222222222222'
const token = '0x20c0000000000000000000000000000000000000'
const price = 1_000n
const url = 'https://api.test/v1/paid'
const payer = privateKeyToAccount(`0x${'01'.padStart(64, '0')}`)
const voucherContext = { chainId: memoryChainId, escrow: memoryEscrowAddress }

function fixture(options: { settleThreshold?: bigint } = {}) {
  const book = memoryEscrow()
  const store = memoryStore()
  const backgroundErrors: unknown[] = []
  const session = tempoSession({
    escrow: book.escrow,
    store,
    recipient: payee,
    currency: token,
    minDeposit: 10_000n,
    onBackgroundError: (error) => backgroundErrors.push(error),
    ...options,
  })
  const handle = paymentHandler({
    realm: 'api.test',
    secretKey: 'engine-test-secret-key-at-least-32-bytes',
    method: session,
    challenges: store,
    pricing: fixedPrice(price),
    logger: () => {},
  })

  /** A request's whole exchange: the handler, then (when paid) a trivial route handler, then completion. */
  async function send(init: RequestInit & { payload?: Record<string, unknown> } = {}) {
    const method = init.method ?? 'POST'
    const body = method === 'POST' ? { body: '{}' } : {}
    const bytes = () => new TextEncoder().encode(body.body ?? '')
    const unpaid = await handle(new Request(url, { method, ...body }), bytes())
    if (unpaid.kind !== 'respond') throw new Error('an unpaid request is served')
    if (init.payload === undefined) return unpaid.response
    const challenge = Challenge.parse(unpaid.response.headers.get('WWW-Authenticate')!)
    const headers = { Authorization: Credential.format({ challenge, payload: init.payload }) }
    const outcome = await handle(new Request(url, { method, ...body, headers }), bytes())
    if (outcome.kind === 'respond') return outcome.response
    return outcome.complete({ response: Response.json({ served: true }) })
  }

  async function openPayload(deposit = 100_000n, cumulativeAmount = 10_000n) {
    const salt = keccak256(new TextEncoder().encode(`salt-${Math.random()}`))
    const signer = '0x0000000000000000000000000000000000000000'
    const data = encodeFunctionData({ abi: escrowAbi, functionName: 'open', args: [payee, token, deposit, salt, signer] })
    const transaction = await payer.signTransaction({
      type: 'eip1559',
      chainId: memoryChainId,
      to: memoryEscrowAddress,
      data,
      nonce: 0,
      gas: 300_000n,
      maxFeePerGas: 0n,
      maxPriorityFeePerGas: 0n,
    })
    const channelId = computeChannelId({
      payer: payer.address.toLowerCase() as Hex,
      payee,
      token,
      salt,
      authorizedSigner: signer,
      escrow: memoryEscrowAddress,
      chainId: memoryChainId,
    })
    const signature = await signVoucher(payer, voucherContext, { channelId, cumulativeAmount })
    return {
      channelId,
      payload: { action: 'open', type: 'transaction', channelId, transaction, cumulativeAmount: `${cumulativeAmount}`, signature },
    }
  }

  const voucher = async (channelId: Hex, amount: bigint, action: 'voucher' | 'close' = 'voucher') => ({
    action,
    channelId,
    cumulativeAmount: `${amount}`,
    signature: await signVoucher(payer, voucherContext, { channelId, cumulativeAmount: amount }),
  })

  return { book, store, session, send, openPayload, voucher, backgroundErrors }
}

const problem = async (response: Response) => (await response.json()) as { code: string; detail: string }

describe('session engine on the framework-free handler, in-memory escrow', () => {
  it('opens, serves, commits and answers with a receipt; a voucher in the bucket pays without the chain', async () => {
    const { book, store, send, openPayload, voucher } = fixture()
    const { channelId, payload } = await openPayload()
    const opened = await send({ payload })
    expect(opened.status).toBe(200)
    expect(Receipt.parse(opened.headers.get('Payment-Receipt')!)).toMatchObject({ channelId, spent: '1000', acceptedCumulative: '10000' })
    expect(book.channels.get(channelId)?.deposit).toBe(100_000n)

    const reads = book.calls.getChannel
    const paid = await send({ payload: await voucher(channelId, 10_000n) })
    expect(paid.status).toBe(200)
    expect(Receipt.parse(paid.headers.get('Payment-Receipt')!)).toMatchObject({ spent: '2000' })
    expect(book.calls.getChannel).toBe(reads)
    expect(await store.getChannel(channelId)).toMatchObject({ spent: 2_000n, reservations: {} })
  })

  it('answers 503 mpp_chain_unavailable when the RPC is down during an open, and accepts nothing', async () => {
    const { book, store, send, openPayload } = fixture()
    const { channelId, payload } = await openPayload()
    book.fail('getChannel', 'unavailable')
    const response = await send({ payload })
    expect(response.status).toBe(503)
    expect(response.headers.get('Retry-After')).toBe('2')
    expect((await problem(response)).code).toBe('mpp_chain_unavailable')
    expect(book.calls.broadcast).toBe(0)
    expect(await store.getChannel(channelId)).toBeUndefined()
    // The same open, retried on a fresh challenge, goes through.
    expect((await send({ payload })).status).toBe(200)
  })

  it('refuses an open whose transaction reverts, with the channel neither on chain nor in the store', async () => {
    const { book, store, send, openPayload } = fixture()
    const { channelId, payload } = await openPayload()
    book.fail('broadcast', 'revert')
    const response = await send({ payload })
    expect(response.status).toBe(402)
    expect((await problem(response)).code).toBe('mpp_payment_verification_failed')
    expect(response.headers.get('WWW-Authenticate')).toMatch(/^Payment /)
    expect(book.channels.has(channelId)).toBe(false)
    expect(await store.getChannel(channelId)).toBeUndefined()
  })

  it('answers a broadcast that times out with a retryable 503; the retry picks up the channel', async () => {
    const { book, send, openPayload } = fixture()
    const { payload } = await openPayload()
    book.fail('broadcast', 'timeout')
    const timedOut = await send({ payload })
    expect(timedOut.status).toBe(503)
    expect(await problem(timedOut)).toMatchObject({ code: 'mpp_chain_unavailable', detail: expect.stringMatching(/not confirmed/) })
    expect((await send({ payload })).status).toBe(200)
  })

  it('refuses a voucher above the cached deposit with 503 when the chain cannot be re-read, advancing nothing', async () => {
    const { book, store, send, openPayload, voucher } = fixture()
    const { channelId, payload } = await openPayload()
    await send({ payload })
    book.fail('getChannel', 'unavailable')
    const response = await send({ payload: await voucher(channelId, 150_000n) })
    expect((await problem(response)).code).toBe('mpp_chain_unavailable')
    expect((await store.getChannel(channelId))?.acceptedCumulative).toBe(10_000n)
  })

  it('keeps the channel usable when the close transaction reverts, and closes on the retry', async () => {
    const { book, store, send, openPayload, voucher } = fixture()
    const { channelId, payload } = await openPayload()
    await send({ payload })
    book.fail('close', 'revert')
    const failed = await send({ payload: await voucher(channelId, 1_000n, 'close') })
    expect(failed.status).toBe(502)
    expect((await problem(failed)).code).toBe('mpp_session_close_failed')
    expect(await store.getChannel(channelId)).toMatchObject({ closing: false, finalized: false })
    expect((await send({ payload: await voucher(channelId, 10_000n) })).status).toBe(200)

    const closed = await send({ payload: await voucher(channelId, 2_000n, 'close') })
    expect(closed.status).toBe(200)
    expect(Receipt.parse(closed.headers.get('Payment-Receipt')!)).toMatchObject({ spent: '2000', txHash: expect.stringMatching(/^0x/) })
    expect(book.payouts).toEqual([{ channelId, amount: 2_000n, refund: 98_000n }])
  })

  it('settles in the background past the threshold; a failed settlement reaches onBackgroundError, never the response', async () => {
    const { book, send, openPayload, voucher, backgroundErrors } = fixture({ settleThreshold: 1_000n })
    // The opening voucher (1,000) is at or below spent after the first request: it is what can be settled.
    const { channelId, payload } = await openPayload(100_000n, 1_000n)
    book.fail('settle', 'unavailable')
    expect((await send({ payload })).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(backgroundErrors).toHaveLength(1)
    expect(backgroundErrors[0]).toMatchObject({ code: 'mpp_chain_unavailable' })
    expect((await send({ payload: await voucher(channelId, 2_000n) })).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(book.payouts.map((payout) => payout.amount)).toEqual([2_000n])
  })
})
