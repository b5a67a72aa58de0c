// Races made to be served more than was paid: dozens of paid requests at once
// on a deposit that covers ten, vouchers racing each other, and a close racing
// content requests. Whatever the interleaving, every 200 carries a receipt
// whose `spent` rose by its charge, the charges add up to what the gateway
// accounts as spent, spent ≤ accepted ≤ deposit, the upstream answered only
// requests that were charged, and the close captures exactly what was spent —
// which is what the payee receives on chain.
import type { Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import type { ErrorCode } from '../../src/errors/codes.js'
import type { Receipt } from '../../src/protocol/receipt.js'
import {
  balances,
  type Channel,
  challengeFor,
  chargeOf,
  chatBody,
  credential,
  escrowAddress,
  expectProblem,
  newPayer,
  observe,
  onChain,
  openChannel,
  payeeAddress,
  post,
  receiptOf,
  send,
  sign,
  stateOf,
  transfersOf,
  upstream,
  voucher,
} from './support.js'
import { models } from './target.js'

const deposit = 1_000_000n
const get = { method: 'GET' }
const feeManager = '0xfeec000000000000000000000000000000000000'

type Outcome = { status: number; receipt?: Receipt; charge?: bigint; code?: string }

/** Sends one paid completion per challenge, all at once; each outcome with its charge (200) or its checked envelope. */
async function race(channel: Channel, body: string, amounts: bigint[], allowed: readonly ErrorCode[]): Promise<Outcome[]> {
  const challenges = await Promise.all(amounts.map(() => challengeFor(post(body))))
  const credentials = await Promise.all(amounts.map(async (amount, i) => credential(challenges[i]!, await voucher(channel, amount))))
  const responses = await Promise.all(credentials.map((authorization) => send(post(body), authorization)))
  return Promise.all(responses.map((response) => outcome(channel, response, allowed)))
}

async function outcome(channel: Channel, response: Response, allowed: readonly ErrorCode[]): Promise<Outcome> {
  await observe(channel, response)
  if (response.status === 200) {
    const { usage } = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }
    return { status: 200, receipt: receiptOf(response)!, charge: chargeOf(usage) }
  }
  const code = (await response.clone().json()) as { code: ErrorCode }
  expect(allowed).toContain(code.code)
  await expectProblem(response, code.code)
  return { status: response.status, code: code.code }
}

/** Every 200 was charged, each raising `spent` by its charge: the receipts' `spent` are `from` + the running sums of the charges. */
function expectChargedInTurn(outcomes: Outcome[], from: bigint) {
  const served = outcomes
    .filter((outcome) => outcome.status === 200)
    .sort((a, b) => (BigInt(a.receipt!.spent!) < BigInt(b.receipt!.spent!) ? -1 : 1))
  let spent = from
  for (const { receipt, charge } of served) {
    expect(charge).toBeGreaterThan(0n)
    spent += charge!
    expect(BigInt(receipt!.spent!)).toBe(spent)
  }
  return { served: served.length, spent }
}

describe('thirty-two paid requests at once on a deposit that covers ten', () => {
  it('serves at most what the deposit covers, each charged; the rest are refused 402 and never reach the upstream', async () => {
    const payer = await newPayer()
    const channel = await openChannel(payer, deposit, deposit)
    const money = await balances(payer)
    const calls = await upstream.calls()
    // Each quotes about 100,300 and is charged 99,900: ten fit in the deposit one after another, nine at once.
    const body = chatBody(models.costly, 'Race.', 5_000)
    const outcomes = await race(channel, body, Array(32).fill(deposit), [
      'mpp_voucher_bucket_refresh_required',
      'mpp_session_deposit_below_request_cost',
    ])
    const { served, spent } = expectChargedInTurn(outcomes, 0n)
    expect(served).toBeGreaterThan(0)
    expect(served).toBeLessThanOrEqual(10)
    expect(spent).toBe(BigInt(served) * 99_900n)
    expect(await stateOf(channel)).toEqual({ spent, acceptedCumulative: deposit })
    expect(await upstream.calls()).toBe(calls + served)

    // One at a time, the rest of the deposit: exactly ten in all, then the deposit is what is short.
    const more = []
    for (let i = served; i < 12; i++) more.push(...(await race(channel, body, [deposit], ['mpp_session_deposit_below_request_cost'])))
    const total = expectChargedInTurn(more, spent)
    expect(served + total.served).toBe(10)
    expect(await stateOf(channel)).toEqual({ spent: 999_000n, acceptedCumulative: deposit })
    expect(await upstream.calls()).toBe(calls + 10)
    // Nothing moved on chain: the deposit is held until the close.
    expect(await onChain(channel.channelId)).toEqual({ deposit, settled: 0n, finalized: false, closeRequestedAt: 0n })
    expect(await balances(payer)).toEqual(money)
  })
})

describe('thirty requests at once, each with its own voucher', () => {
  it('accepts only vouchers within the deposit, never moves backwards, and charges each 200 once', async () => {
    const channel = await openChannel(await newPayer(), deposit, 100_000n)
    const calls = await upstream.calls()
    // 100,000 … 3,000,000 in a shuffled order: two thirds above the deposit; slow, so they overlap.
    const amounts = Array.from({ length: 30 }, (_, i) => BigInt(((i * 7) % 30) + 1) * 100_000n)
    const outcomes = await race(channel, chatBody(models.slow, 'Race vouchers.'), amounts, [
      'mpp_session_deposit_below_request_cost',
      'mpp_payment_verification_failed',
      'mpp_voucher_bucket_refresh_required',
      'mpp_request_exceeds_voucher_bucket',
      'mpp_rate_limited',
    ])
    const { served, spent } = expectChargedInTurn(outcomes, 0n)
    const state = await stateOf(channel)
    expect(state.spent).toBe(spent)
    expect(state.acceptedCumulative).toBeLessThanOrEqual(deposit)
    expect(amounts).toContain(state.acceptedCumulative)
    // Every receipt reports an accepted amount the payer signed, within the deposit.
    for (const { receipt } of outcomes.filter((outcome) => outcome.receipt))
      expect(BigInt(receipt!.acceptedCumulative!)).toBeLessThanOrEqual(deposit)
    expect(await upstream.calls()).toBe(calls + served)
  })
})

describe('a close racing content requests', () => {
  it('is refused while requests are in flight, then captures exactly what was spent; nothing is served after it', async () => {
    const payer = await newPayer()
    const channel = await openChannel(payer, deposit, deposit)
    const body = chatBody(models.slow, 'Race the close.')
    const calls = await upstream.calls()
    const closeFor = async (amount: bigint) => {
      const payload = {
        action: 'close',
        channelId: channel.channelId,
        cumulativeAmount: amount.toString(),
        signature: await sign(channel, amount),
      }
      return send(get, credential(await challengeFor(get), payload))
    }
    const outcomes: Outcome[] = []

    // In flight: the close is refused (502, retryable) and the requests are served.
    const inFlight = race(channel, body, Array(8).fill(deposit), [])
    await expect.poll(() => upstream.calls(), { interval: 5 }).toBeGreaterThan(calls)
    expect((await expectProblem(await closeFor(0n), 'mpp_session_close_failed')).detail).toMatch(/in flight/)
    outcomes.push(...(await inFlight))
    expect(outcomes.every((outcome) => outcome.status === 200)).toBe(true)
    expect((await onChain(channel.channelId)).finalized).toBe(false)

    // Around the close, more requests, 10 ms apart and a little later each round: some reserve before it (the close is
    // refused and retried), some arrive while it is sent or after (refused). Whichever wins, the books agree.
    const money = await balances(payer)
    let closed: Receipt | undefined
    for (let round = 0; closed === undefined; round++) {
      expect(round).toBeLessThan(10)
      const { spent } = await stateOf(channel)
      const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
      const [close, ...contents] = await Promise.all([
        closeFor(spent),
        ...Array.from({ length: 8 }, (_, i) =>
          later(round * 5 + i * 10).then(() => race(channel, body, [deposit], ['mpp_channel_finalized'])),
        ),
      ])
      outcomes.push(...contents.flat())
      if (close!.status === 200) closed = receiptOf(close!)
      else {
        // Lost the race: requests were in flight, or one committed since `spent` was read (the close must be for exactly it).
        const { code } = (await close!.clone().json()) as { code: ErrorCode }
        expect(['mpp_session_close_failed', 'mpp_payment_verification_failed']).toContain(code)
        await expectProblem(close!, code)
      }
    }
    // Both happened: requests refused because of the close, and requests served around it.
    expect(outcomes.some((outcome) => outcome.code === 'mpp_channel_finalized')).toBe(true)

    const { served, spent } = expectChargedInTurn(outcomes, 0n)
    expect(closed.spent).toBe(spent.toString())
    // Nothing after the close: a request now is refused, and the upstream answered only the charged ones.
    await expectProblem(
      await send(post(body), credential(await challengeFor(post(body)), await voucher(channel, deposit))),
      'mpp_channel_finalized',
    )
    expect(await upstream.calls()).toBe(calls + served)
    // On chain: the payee got exactly the capture (less its own fee for sending the close), the payer the rest.
    const transfers = await transfersOf(closed.txHash as Hex)
    const fee = transfers.find((transfer) => transfer.from === payeeAddress && transfer.to === feeManager)?.amount ?? 0n
    expect(transfers).toEqual(
      expect.arrayContaining([
        { from: escrowAddress, to: payeeAddress, amount: spent },
        { from: escrowAddress, to: payer.address, amount: deposit - spent },
      ]),
    )
    expect(await balances(payer)).toEqual({
      payer: money.payer + deposit - spent,
      payee: money.payee + spent - fee,
      escrow: money.escrow - deposit,
    })
    expect(await onChain(channel.channelId)).toMatchObject({ finalized: true })
  })
})
