// The payee's readiness without a chain: the reading's cache (one read per
// window, shared by concurrent callers, failures kept as long), the boundary of
// canPayFees, a refusal for fees as the freshest reading, background
// settlement held after such a refusal (one attempt per window, each reported
// to the hook, typed), the /health mapping and the default background log line.
import type { Address } from 'viem'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { PaymentError } from '../../src/errors/payment-error.js'
import { health } from '../../src/health.js'
import { FeeShortfallError, type PayeeFees } from '../../src/session/escrow.js'
import { resolveSessionOptions } from '../../src/session/options.js'
import { payeeReadiness, type Readiness } from '../../src/session/readiness.js'
import { memoryStore } from '../../src/stores/memory.js'
import { engineFixture } from '../support/engine.js'
import { memoryEscrow, memoryPayee } from '../support/memory-escrow.js'

const recipient = '0x4444444444444444444444444444444444444444' as Address
const token = '0x20c0000000000000000000000000000000000000' as Address
const fees = (balance: bigint, needed = 600n): PayeeFees => ({ address: memoryPayee, token, balance, needed })
const shortfall = (reading: PayeeFees) =>
  new PaymentError('mpp_session_close_unavailable', 'The settle cannot be sent.', { cause: new FeeShortfallError(reading, 'settle') })

/** A readiness over a stub escrow whose answers the test sets, on a clock it moves. */
function fixture(ttl = 1_000) {
  let clock = 10_000
  const escrow = { reads: 0, answer: async (): Promise<PayeeFees | undefined> => fees(0n) }
  const readiness = payeeReadiness(
    {
      payeeFees: () => {
        escrow.reads++
        return escrow.answer()
      },
    },
    { recipient, readinessTtl: ttl, now: () => clock },
  )
  return { readiness, escrow, advance: (ms: number) => (clock += ms), now: () => clock }
}

describe('the payee readiness', () => {
  it('reads the escrow once per window, however often and however concurrently it is asked', async () => {
    const { readiness, escrow, advance, now } = fixture()
    const first = await Promise.all(Array.from({ length: 10 }, () => readiness.read()))
    expect(escrow.reads).toBe(1)
    expect(new Set(first).size).toBe(1)
    expect(first[0]).toEqual({
      address: memoryPayee,
      canSign: true,
      canPayFees: false,
      fees: { token, balance: 0n, needed: 600n },
      checkedAt: now(),
    })
    advance(999)
    await readiness.read()
    expect(escrow.reads).toBe(1)
    advance(1)
    escrow.answer = async () => fees(600n)
    expect(await readiness.read()).toMatchObject({ canPayFees: true, checkedAt: now() })
    expect(escrow.reads).toBe(2)
  })

  it('can pay fees from a balance of exactly what is needed, not one less', async () => {
    const { readiness, escrow, advance } = fixture()
    escrow.answer = async () => fees(599n)
    expect((await readiness.read()).canPayFees).toBe(false)
    advance(1_000)
    escrow.answer = async () => fees(600n)
    expect((await readiness.read()).canPayFees).toBe(true)
  })

  it('without a payee key: the recipient, cannot sign, cannot pay fees', async () => {
    const { readiness, escrow, now } = fixture()
    escrow.answer = async () => undefined
    expect(await readiness.read()).toEqual({ address: recipient, canSign: false, canPayFees: false, checkedAt: now() })
  })

  it('keeps a failed read for the window too, then reads again', async () => {
    const { readiness, escrow, advance } = fixture()
    escrow.answer = async () => {
      throw new PaymentError('mpp_chain_unavailable', 'down')
    }
    await expect(readiness.read()).rejects.toMatchObject({ code: 'mpp_chain_unavailable' })
    await expect(readiness.read()).rejects.toMatchObject({ code: 'mpp_chain_unavailable' })
    expect(escrow.reads).toBe(1)
    advance(1_000)
    escrow.answer = async () => fees(10_000n)
    expect((await readiness.read()).canPayFees).toBe(true)
    expect(escrow.reads).toBe(2)
  })

  it('takes a refusal for fees as the freshest reading and holds background settlement for the window', async () => {
    const { readiness, escrow, advance, now } = fixture()
    escrow.answer = async () => fees(10_000n)
    expect((await readiness.read()).canPayFees).toBe(true)
    expect(readiness.settlementHeld()).toBe(false)
    readiness.refused(fees(3n, 500n))
    expect(await readiness.read()).toMatchObject({ canPayFees: false, fees: { balance: 3n, needed: 500n }, checkedAt: now() })
    expect(escrow.reads).toBe(1)
    expect(readiness.settlementHeld()).toBe(true)
    advance(999)
    expect(readiness.settlementHeld()).toBe(true)
    advance(1)
    expect(readiness.settlementHeld()).toBe(false)
    expect((await readiness.read()).canPayFees).toBe(true)
  })
})

describe('background settlement when the payee cannot pay the fee', () => {
  it('reports each attempt to the hook with a typed cause, and tries once per window, not once per request', async () => {
    let skew = 0
    const { book, pay, openPayload, voucher, backgroundErrors, session } = engineFixture({
      settleThreshold: 1_000n,
      readinessTtl: 60_000,
      now: () => Date.now() + skew,
    })
    book.payeeFees.balance = 0n
    const settled = () => new Promise((resolve) => setTimeout(resolve, 20))
    // The opening voucher (1,000) is spent by the first request: settleable at once.
    const { channelId, payload } = await openPayload(100_000n, 1_000n)
    expect((await pay(payload)).status).toBe(200)
    await settled()
    expect(book.calls.settle).toBe(1)
    expect(backgroundErrors).toHaveLength(1)
    const error = backgroundErrors[0] as PaymentError
    expect(error).toBeInstanceOf(PaymentError)
    expect(error.code).toBe('mpp_session_close_unavailable')
    expect(error.cause).toBeInstanceOf(FeeShortfallError)
    expect((error.cause as FeeShortfallError).fees).toEqual({ address: memoryPayee, token, balance: 0n, needed: 1n })
    expect(await session.readiness()).toMatchObject({ canPayFees: false })

    // Within the window: paid requests go on, no settle is attempted.
    for (const amount of [2_000n, 3_000n, 4_000n]) expect((await pay(await voucher(channelId, amount))).status).toBe(200)
    await settled()
    expect(book.calls.settle).toBe(1)
    expect(backgroundErrors).toHaveLength(1)

    // After it: one attempt, reported again; once funded, the next window's attempt settles.
    skew += 60_000
    expect((await pay(await voucher(channelId, 5_000n))).status).toBe(200)
    await settled()
    expect(book.calls.settle).toBe(2)
    expect(backgroundErrors).toHaveLength(2)
    book.payeeFees.balance = 1n
    skew += 60_000
    expect((await pay(await voucher(channelId, 6_000n))).status).toBe(200)
    await settled()
    expect(book.payouts.map((payout) => payout.amount)).toEqual([6_000n])
    expect(backgroundErrors).toHaveLength(2)
  })
})

describe('GET /health from the readiness', () => {
  const at = Date.UTC(2026, 10, 29, 12, 0, 0)
  const answer = (readiness: Readiness) => health({ readiness: async () => readiness })

  it('is 200 ready when the payee can sign and pay a fee', async () => {
    expect(
      await answer({ address: memoryPayee, canSign: true, canPayFees: true, fees: { token, balance: 700n, needed: 600n }, checkedAt: at }),
    ).toEqual({
      status: 200,
      body: {
        ok: true,
        status: 'ready',
        payee: {
          address: memoryPayee,
          canSign: true,
          canPayFees: true,
          feeToken: token,
          feeBalance: '700',
          feeNeeded: '600',
          checkedAt: '2026-11-29T12:00:00.000Z',
        },
      },
    })
  })

  it('is 200 degraded without a payee key: serving works, closes cannot be sent', async () => {
    expect(await answer({ address: recipient, canSign: false, canPayFees: false, checkedAt: at })).toEqual({
      status: 200,
      body: {
        ok: true,
        status: 'degraded',
        reason: 'payee_cannot_sign',
        payee: { address: recipient, canSign: false, canPayFees: false, checkedAt: '2026-11-29T12:00:00.000Z' },
      },
    })
  })

  it('is 503 when the chain cannot be read, with the code and nothing else', async () => {
    const down = await health({
      readiness: async () => {
        throw new PaymentError('mpp_chain_unavailable', 'Could not read the payee fee balance.')
      },
    })
    expect(down).toEqual({ status: 503, body: { ok: false, status: 'unavailable', code: 'mpp_chain_unavailable' } })
  })
})

describe('the default background error log', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('writes one JSON line: the event, the code and the payee fee figures for a fee shortfall', () => {
    const lines: string[] = []
    vi.spyOn(console, 'error').mockImplementation((line: string) => void lines.push(line))
    const settings = resolveSessionOptions({ escrow: memoryEscrow().escrow, store: memoryStore(), recipient, currency: token })
    settings.onBackgroundError(shortfall(fees(7n, 600n)))
    settings.onBackgroundError(new PaymentError('mpp_session_close_failed', 'reverted'))
    settings.onBackgroundError(new TypeError('secret text'))
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      {
        event: 'payee_cannot_pay_fees',
        code: 'mpp_session_close_unavailable',
        payee: memoryPayee,
        feeToken: token,
        feeBalance: '7',
        feeNeeded: '600',
      },
      { event: 'settlement_failed', code: 'mpp_session_close_failed' },
      { event: 'settlement_failed', error: 'TypeError' },
    ])
  })
})
