// The session engine on protocol v2, through the payment middleware, against
// the channel reserve stand-in on anvil (test/support/v2/session.ts). Payloads
// are made by hand, as the session spec shows them, so each verification MUST
// of issue 15 is exercised on its own: the descriptor in every payload, the
// channel id recomputed, payee/token/operator, the open transaction's
// expiringNonceHash, uint96 bounds, TIP-1020 envelopes (high s, compact,
// keychain, P256), equal vouchers idempotent and lower ones refused, and the
// cooperative and forced closes capturing exactly what was spent. Balances
// are exact (zero fees). On the memory store, PGlite and PostgreSQL (the
// Durable Objects store keeps the descriptor by the same codec: its
// conformance suite runs in workerd).
import { type Address, type Hex, hexToBigInt, numberToHex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Challenge } from '../../../src/protocol/challenge.js'
import { maxUint96 } from '../../../src/session/v2/amount.js'
import { computeChannelId } from '../../../src/session/v2/channel-id.js'
import type { ChannelDescriptor } from '../../../src/session/v2/descriptor.js'
import { closeGracePeriodSeconds, tip20ChannelReserveAddress as reserve } from '../../../src/session/v2/reserve.js'
import { signVoucher } from '../../../src/session/v2/voucher.js'
import { memoryStore } from '../../../src/stores/memory.js'
import { pgliteStore, postgresStore } from '../../../src/stores/postgres.js'
import type { SessionStore } from '../../../src/stores/store.js'
import { startPostgres } from '../../harness/postgres.js'
import { price, startV2Session, type V2SessionFixture } from '../../support/v2/session.js'
import { sendPayerCall, signOpen, signTopUp } from '../../support/v2/transactions.js'

const chainId = 31337
const context = { chainId, escrow: reserve } as const
const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

let session: V2SessionFixture
type Payer = Awaited<ReturnType<V2SessionFixture['payer']>>

const problem = async (response: Response) =>
  (await response.json()) as { code: string; type: string; detail: string } & Record<string, unknown>
const receiptOf = (response: Response) =>
  JSON.parse(Buffer.from(response.headers.get('Payment-Receipt')!, 'base64url').toString('utf8')) as Record<string, string>

async function openPayload(payer: Payer, deposit: bigint, cumulative: bigint, overrides: Partial<ChannelDescriptor> = {}) {
  const signed = await signOpen(payer.client, { payee: session.payeeAddress, deposit })
  const descriptor = { ...signed.descriptor, ...overrides }
  const channelId = computeChannelId(descriptor, reserve, chainId)
  const signature = await signVoucher(payer.account, context, { channelId, cumulativeAmount: cumulative })
  const payload = {
    action: 'open',
    type: 'transaction',
    channelId,
    descriptor,
    transaction: signed.raw,
    cumulativeAmount: cumulative.toString(),
    signature,
  }
  return { payload, descriptor, channelId, raw: signed.raw }
}

/** Opens a channel through the gateway (one paid request) and returns it. */
async function opened(deposit = 5_000_000n, cumulative = 1_000_000n) {
  const payer = await session.payer()
  const open = await openPayload(payer, deposit, cumulative)
  const response = await session.send(open.payload)
  expect(response.status).toBe(200)
  return { payer, ...open }
}

async function voucherPayload(payer: Payer, descriptor: ChannelDescriptor, amount: bigint, action: 'voucher' | 'close' = 'voucher') {
  const channelId = computeChannelId(descriptor, reserve, chainId)
  const signature = await signVoucher(payer.account, context, { channelId, cumulativeAmount: amount })
  return { action, channelId, descriptor, cumulativeAmount: amount.toString(), signature }
}

type StoreUnderTest = { store: SessionStore; stop: () => Promise<void> }
const stores: Record<string, () => Promise<StoreUnderTest>> = {
  memory: async () => ({ store: memoryStore(), stop: async () => {} }),
  PGlite: async () => {
    const store = pgliteStore()
    await store.ready()
    return { store, stop: () => store.close() }
  },
  PostgreSQL: async () => {
    const server = await startPostgres()
    const store = postgresStore({ connectionString: server.connectionString })
    await store.ready()
    return {
      store,
      stop: async () => {
        await store.close()
        await server.stop()
      },
    }
  },
}

describe.each(Object.keys(stores))('session v2 through the gateway on %s', (kind) => {
  let underTest: StoreUnderTest | undefined
  beforeAll(async () => {
    underTest = await stores[kind]!()
    session = await startV2Session({ store: underTest.store })
  }, 60_000)

  afterAll(async () => {
    await session?.stop()
    await underTest?.stop()
  })

  it('offers v2 in its challenges: sessionProtocol, chainId, the precompile as escrowContract', async () => {
    const { methodDetails } = Challenge.request(await session.challenge()) as { methodDetails: Record<string, unknown> }
    expect(methodDetails).toMatchObject({ sessionProtocol: 'v2', chainId, escrowContract: reserve })
    expect(methodDetails).not.toHaveProperty('operator')
  })

  it('opens a channel from the payload descriptor, serves it, and keeps the descriptor', async () => {
    const payer = await session.payer()
    const { payload, descriptor, channelId } = await openPayload(payer, 5_000_000n, 1_000_000n)
    const response = await session.send(payload)
    expect(response.status).toBe(200)
    expect(receiptOf(response)).toMatchObject({ channelId, spent: price.toString(), acceptedCumulative: '1000000' })
    const state = await session.store.getChannel(channelId)
    expect(state).toMatchObject({ descriptor, deposit: 5_000_000n, spent: price, payer: payer.address })
    expect(await session.balance(payer.address)).toBe(5_000_000n)
  })

  it('refuses a payload without a descriptor, with a channelId the descriptor does not derive, or naming other terms', async () => {
    const payer = await session.payer()
    const { payload, descriptor } = await openPayload(payer, 2_000_000n, 1_000_000n)
    const { descriptor: _, ...withoutDescriptor } = payload
    expect((await problem(await session.send(withoutDescriptor))).code).toBe('mpp_malformed_credential')
    const otherId = await problem(await session.send({ ...payload, channelId: `0x${'12'.repeat(32)}` }))
    expect(otherId.detail).toMatch(/channelId is not the one the descriptor derives/)
    const other = '0x9999999999999999999999999999999999999999' as Address
    const refusal = async (overrides: Partial<ChannelDescriptor>) => {
      const changed = { ...descriptor, ...overrides }
      return (
        await problem(await session.send({ ...payload, descriptor: changed, channelId: computeChannelId(changed, reserve, chainId) }))
      ).detail
    }
    expect(await refusal({ payee: other })).toMatch(/another payee/)
    expect(await refusal({ token: '0x20c0000000000000000000000000000000000001' })).toMatch(/another token/)
    expect(await refusal({ operator: other })).toMatch(/operator must be 0x0000000000000000000000000000000000000000/)
    // Nothing was broadcast.
    expect(await session.balance(payer.address)).toBe(10_000_000n)
  })

  it("refuses an open whose descriptor's expiringNonceHash is not the open transaction's", async () => {
    const payer = await session.payer()
    const { payload } = await openPayload(payer, 2_000_000n, 1_000_000n, { expiringNonceHash: `0x${'ee'.repeat(32)}` })
    const refused = await problem(await session.send(payload))
    expect(refused.code).toBe('mpp_payment_verification_failed')
    expect(refused.detail).toBe('The descriptor does not match the open transaction: expiringNonceHash.')
    expect(await session.balance(payer.address)).toBe(10_000_000n)
  })

  it('refuses amounts above 2^96 - 1', async () => {
    const { payer, descriptor } = await opened()
    const voucher = await voucherPayload(payer, descriptor, 2_000_000n)
    const refused = await problem(await session.send({ ...voucher, cumulativeAmount: (maxUint96 + 1n).toString() }))
    expect(refused.code).toBe('mpp_malformed_credential')
    expect(refused.detail).toMatch(/uint96/)
  })

  it('refuses non-canonical and unsupported signature envelopes with their reasons', async () => {
    const { payer, descriptor, channelId } = await opened()
    const voucher = await voucherPayload(payer, descriptor, 2_000_000n)
    const sig = voucher.signature
    const r = sig.slice(2, 66)
    const s = hexToBigInt(`0x${sig.slice(66, 130)}`)
    const v = Number.parseInt(sig.slice(130), 16)
    const highS = `0x${r}${numberToHex(n - s, { size: 32 }).slice(2)}${(v === 27 ? 28 : 27).toString(16)}` as Hex
    const compact = `0x${r}${numberToHex(s | (BigInt(v - 27) << 255n), { size: 32 }).slice(2)}` as Hex
    const keychain = `0x03${payer.address.slice(2)}${sig.slice(2)}` as Hex
    const p256 = `0x01${'ab'.repeat(129)}` as Hex
    const detail = async (signature: Hex) => {
      const refused = await problem(await session.send({ ...voucher, signature }))
      expect(refused.code).toBe('mpp_payment_verification_failed')
      return refused.detail
    }
    expect(await detail(highS)).toMatch(/high s/)
    expect(await detail(compact)).toMatch(/64-byte compact/)
    expect(await detail(keychain)).toMatch(/Keychain/)
    expect(await detail(p256)).toMatch(/P256 voucher signatures are not supported/)
    // Another key's signature: the signer is not the channel's.
    const stranger = await session.payer(0n)
    const foreign = await voucherPayload(stranger, descriptor, 2_000_000n)
    expect((await problem(await session.send(foreign))).type).toMatch(/session\/signer-mismatch$/)
    expect((await session.store.getChannel(channelId))?.acceptedCumulative).toBe(1_000_000n)
  })

  it('takes an equal voucher again as a retry and refuses a lower one', async () => {
    const { payer, descriptor, channelId } = await opened()
    const higher = await voucherPayload(payer, descriptor, 2_000_000n)
    expect((await session.send(higher, '')).status).toBe(200)
    expect((await session.send(higher, '')).status).toBe(200)
    expect((await session.store.getChannel(channelId))?.acceptedCumulative).toBe(2_000_000n)
    const lower = await voucherPayload(payer, descriptor, 1_500_000n)
    expect((await problem(await session.send(lower))).detail).toMatch(/below the accepted cumulative amount 2000000/)
  })

  it('keeps the accounting invariant under concurrent requests on one channel: exactly what the voucher covers is served', async () => {
    const { payer, descriptor, channelId } = await opened(5_000_000n, 1_000_000n) // one request served: 100,000 spent
    const again = await voucherPayload(payer, descriptor, 1_000_000n)
    const responses = await Promise.all(Array.from({ length: 15 }, () => session.send(again)))
    const served = responses.filter((response) => response.status === 200)
    expect(served).toHaveLength(9) // (1,000,000 − 100,000) / 100,000
    for (const refused of responses.filter((response) => response.status !== 200)) {
      expect(refused.status).toBe(402)
      expect((await problem(refused)).code).toBe('mpp_voucher_bucket_refresh_required')
    }
    const spentSeen = served.map((response) => BigInt(receiptOf(response).spent!)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    expect(new Set(spentSeen).size).toBe(9) // every charge its own receipt
    expect(spentSeen.at(-1)).toBe(1_000_000n)
    const state = await session.store.getChannel(channelId)
    expect(state).toMatchObject({ spent: 1_000_000n, acceptedCumulative: 1_000_000n, reservations: {} })
  })

  it('tops up, settles a voucher not above spent, then closes capturing exactly spent from a larger voucher', async () => {
    const { payer, descriptor, channelId } = await opened(3_000_000n, 300_000n)
    // Two more paid requests on vouchers of 0.2 and 0.3 token: spent 0.3.
    expect((await session.send(await voucherPayload(payer, descriptor, 300_000n))).status).toBe(200)
    expect((await session.send(await voucherPayload(payer, descriptor, 300_000n))).status).toBe(200)
    const topUp = {
      action: 'topUp',
      type: 'transaction',
      channelId,
      descriptor,
      transaction: await signTopUp(payer.client, descriptor, 2_000_000n),
      additionalDeposit: '2000000',
    }
    const toppedUp = await session.send(topUp, '')
    expect(toppedUp.status).toBe(200)
    expect((await session.store.getChannel(channelId))?.deposit).toBe(5_000_000n)

    expect(await session.method.settle(channelId)).toMatchObject({ amount: 300_000n })
    expect(await session.balance(session.payeeAddress)).toBeGreaterThanOrEqual(300_000n)
    const payeeBefore = await session.balance(session.payeeAddress)
    expect((await session.send(await voucherPayload(payer, descriptor, 1_000_000n))).status).toBe(200)
    // spent 0.4; the close voucher over-authorizes (4.5): the payee captures 0.1 more, the payer gets 4.6 back.
    const below = await problem(await session.send(await voucherPayload(payer, descriptor, 399_999n, 'close'), ''))
    expect(below).toMatchObject({ code: 'mpp_payment_verification_failed', requiredCumulative: '400000' })
    const payerBefore = await session.balance(payer.address)
    const closed = await session.send(await voucherPayload(payer, descriptor, 4_500_000n, 'close'), '')
    expect(closed.status).toBe(200)
    expect(receiptOf(closed)).toMatchObject({ channelId, spent: '400000' })
    expect(await session.balance(session.payeeAddress)).toBe(payeeBefore + 100_000n)
    expect(await session.balance(payer.address)).toBe(payerBefore + 4_600_000n)
    expect(await session.store.getChannel(channelId)).toMatchObject({ finalized: true, settled: 400_000n })
    // Closed: the precompile deleted it, and the store says why it reads as missing.
    expect((await problem(await session.send(await voucherPayload(payer, descriptor, 4_600_000n)))).code).toBe('mpp_channel_finalized')
  })

  it('refuses a close whose descriptor is not the channel it names', async () => {
    const { payer, descriptor, channelId } = await opened()
    const close = await voucherPayload(payer, descriptor, 1_000_000n, 'close')
    const refused = await problem(await session.send({ ...close, descriptor: { ...descriptor, salt: `0x${'01'.repeat(32)}` } }, ''))
    expect(refused.detail).toMatch(/channelId is not the one the descriptor derives/)
    expect((await session.store.getChannel(channelId))?.finalized).toBe(false)
  })

  it("the payee's own close (npm run ops close, the idle sweep) captures exactly spent from the highest voucher", async () => {
    const { payer, descriptor, channelId } = await opened(3_000_000n, 1_000_000n)
    expect((await session.send(await voucherPayload(payer, descriptor, 1_000_000n))).status).toBe(200)
    const payeeBefore = await session.balance(session.payeeAddress)
    const payerBefore = await session.balance(payer.address)
    expect(await session.method.closeChannel(channelId)).toMatchObject({ kind: 'closed', amount: 2n * price })
    expect(await session.balance(session.payeeAddress)).toBe(payeeBefore + 2n * price)
    expect(await session.balance(payer.address)).toBe(payerBefore + 3_000_000n - 2n * price)
  })

  it('the sweeper answers a forced close by closing, capturing exactly spent', async () => {
    const { payer, descriptor, channelId } = await opened(3_000_000n, 1_000_000n)
    await sendPayerCall(payer.client, 'requestClose', descriptor)
    // The store learns of it from a chain read (the close watcher's, or an expired cache's).
    await session.method.reconcileChannel(channelId)
    const payeeBefore = await session.balance(session.payeeAddress)
    expect(await session.method.sweepChannel(channelId)).toEqual({
      reason: 'close_requested',
      outcome: expect.objectContaining({ kind: 'closed', amount: price }),
    })
    expect(await session.balance(session.payeeAddress)).toBe(payeeBefore + price)
  })

  it('on a forced close refuses service and captures exactly spent within the grace period; the payer gets the rest', async () => {
    const { payer, descriptor, channelId } = await opened(4_000_000n, 2_000_000n)
    expect((await session.send(await voucherPayload(payer, descriptor, 2_000_000n))).status).toBe(200)
    const payeeBefore = await session.balance(session.payeeAddress)
    const payerBefore = await session.balance(payer.address)
    await sendPayerCall(payer.client, 'requestClose', descriptor)
    await session.anvil.increaseTime({ seconds: Number(closeGracePeriodSeconds) / 2 })
    const followUp = await session.method.followCloseRequest(channelId)
    expect(followUp).toMatchObject({ kind: 'close_requested', settlement: { kind: 'closed', amount: 2n * price } })
    expect(await session.balance(session.payeeAddress)).toBe(payeeBefore + 2n * price)
    expect(await session.balance(payer.address)).toBe(payerBefore + 4_000_000n - 2n * price)
    expect((await problem(await session.send(await voucherPayload(payer, descriptor, 3_000_000n)))).code).toBe('mpp_channel_finalized')
    expect(await session.method.followCloseRequest(channelId)).toEqual({ kind: 'closed' })
  })
})
