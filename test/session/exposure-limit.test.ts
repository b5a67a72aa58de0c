// The operator's cap on unsettled exposure (README: Operating a payee): under
// v1 the payee can settle only vouchers the payer signed, so the step between
// two accepted vouchers is what it serves without a voucher it could settle.
// `maxUnsettledExposure` caps that step; a payer that signs further ahead is
// refused with the highest voucher the payee takes, which is lower.
import type { Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors/config-error.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { settleableVoucher } from '../../src/session/channel.js'
import { tempoSession } from '../../src/session/engine.js'
import { voucherCeiling } from '../../src/session/exposure.js'
import { memoryStore } from '../../src/stores/memory.js'
import { engineFixture, payee, problem, token } from '../support/engine.js'
import { memoryEscrow } from '../support/memory-escrow.js'

const channelId = `0x${'ab'.repeat(32)}` as Hex

describe('voucherCeiling', () => {
  it('is the cap above what is spent, or what the request needs rounded up to a bucket when that is more', () => {
    const position = { channelId, spent: 4_000n, acceptedCumulative: 5_000n, requiredCumulative: 5_500n, deposit: 100_000n }
    expect(voucherCeiling(position, 3_000n, 1_000n)).toBe(7_000n)
    expect(voucherCeiling({ ...position, requiredCumulative: 9_200n }, 3_000n, 1_000n)).toBe(10_000n)
    // Never above the deposit for the need, which is then the whole deposit.
    expect(voucherCeiling({ ...position, requiredCumulative: 99_500n }, 3_000n, 1_000n)).toBe(100_000n)
  })
})

describe('maxUnsettledExposure on the engine (in-memory escrow)', () => {
  const cap = 3_000n
  const bucketSize = 1_000n

  it('refuses an initial voucher above the cap before the open is broadcast, and takes one at the cap', async () => {
    const { book, pay, openPayload } = engineFixture({ maxUnsettledExposure: cap, bucketSize })
    const ahead = await openPayload(100_000n, 10_000n)
    const refused = await pay(ahead.payload)
    expect(refused.status).toBe(402)
    expect(await problem(refused)).toMatchObject({
      code: 'mpp_voucher_exceeds_exposure_limit',
      retryable: true,
      channelId: ahead.channelId,
      acceptedCumulative: '0',
      maxCumulative: '3000',
      requiredCumulative: '1000',
    })
    expect(refused.headers.get('WWW-Authenticate')).toMatch(/^Payment /)
    expect(book.channels.has(ahead.channelId)).toBe(false)

    const { channelId: opened, payload } = await openPayload(100_000n, cap)
    expect((await pay(payload)).status).toBe(200)
    expect(book.channels.has(opened)).toBe(true)
  })

  it('refuses a voucher that steps further than the cap, accepting nothing; the voucher it names is accepted', async () => {
    const { store, pay, openPayload, voucher } = engineFixture({ maxUnsettledExposure: cap, bucketSize })
    const { channelId: id, payload } = await openPayload(100_000n, cap)
    expect((await pay(payload)).status).toBe(200)
    const refused = await pay(await voucher(id, 7_000n))
    expect(refused.status).toBe(402)
    const body = await problem(refused)
    // Spent 1,000: the ceiling is 1,000 + the cap.
    expect(body).toMatchObject({ code: 'mpp_voucher_exceeds_exposure_limit', acceptedCumulative: '3000', maxCumulative: '4000' })
    expect((await store.getChannel(id))?.acceptedCumulative).toBe(cap)
    expect((await store.getChannel(id))?.spent).toBe(1_000n)
    const paid = await pay(await voucher(id, BigInt(body.maxCumulative!)))
    expect(paid.status).toBe(200)
    expect(Receipt.parse(paid.headers.get('Payment-Receipt')!)).toMatchObject({ acceptedCumulative: '4000', spent: '2000' })
  })

  /** A payer that always signs as far ahead as it may (the whole deposit, else what the 402 allows); the worst exposure seen. */
  async function greedyPayer(options: { maxUnsettledExposure?: bigint }) {
    const fixture = engineFixture({ ...options, bucketSize, verificationsPerSecond: 1_000 })
    const deposit = 100_000n
    const { channelId: id } = await openPayload(fixture, deposit)
    let worst = 0n
    for (let i = 0; i < 40; i++) {
      const state = (await fixture.store.getChannel(id))!
      let response = await fixture.pay(await fixture.voucher(id, deposit > state.acceptedCumulative ? deposit : state.acceptedCumulative))
      if (response.status === 402) response = await fixture.pay(await fixture.voucher(id, BigInt((await problem(response)).maxCumulative!)))
      expect(response.status).toBe(200)
      const after = (await fixture.store.getChannel(id))!
      const exposure = after.spent - (settleableVoucher(after)?.amount ?? after.settled)
      if (exposure > worst) worst = exposure
    }
    return worst

    async function openPayload(f: typeof fixture, d: bigint) {
      const first = await f.openPayload(d, options.maxUnsettledExposure ?? d)
      expect((await f.pay(first.payload)).status).toBe(200)
      return first
    }
  }

  it('bounds what is served without a settleable voucher by the cap, however far ahead the payer would sign', async () => {
    expect(await greedyPayer({ maxUnsettledExposure: cap })).toBeLessThan(cap)
    // Without the cap the same payer's one voucher for the whole deposit leaves all 41 requests served unsettleable.
    expect(await greedyPayer({})).toBe(41_000n)
  })

  it('is at least the bucket size (the gateway asks for vouchers a bucket at a time)', () => {
    const { escrow } = memoryEscrow()
    const options = { escrow, store: memoryStore(), recipient: payee as Hex, currency: token as Hex, bucketSize: 5_000n }
    expect(() => tempoSession({ ...options, maxUnsettledExposure: 4_999n })).toThrow(ConfigError)
    expect(() => tempoSession({ ...options, maxUnsettledExposure: 5_000n })).not.toThrow()
  })
})
