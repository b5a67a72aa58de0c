// Management requests: a HEAD (or GET, or bodiless POST) carrying `open`,
// `voucher`, `topUp` or `close` is never priced or served; it is answered 200
// with a Payment-Receipt, and the channel, on chain and in the gateway's
// accounts, changes exactly as the action says and nothing else moves. An
// action that changed state is never answered with an error; repeating it
// changes nothing.
import type { Hex } from 'viem'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  balances,
  type Channel,
  challengeFor,
  chatBody,
  credential,
  escrowAddress,
  expectHeadProblem,
  expectProblem,
  head,
  type Init,
  newPayer,
  observe,
  onChain,
  openTransaction,
  type Payer,
  paidChat,
  payeeAddress,
  receiptOf,
  send,
  sign,
  snapshot,
  topUpTransaction,
  transfersOf,
  upstream,
  voucher,
} from './support.js'
import { models } from './target.js'

const feeManager = '0xfeec000000000000000000000000000000000000'
const deposit = 1_000_000n

/** Sends a management request and asserts the answer: 200, a receipt for `channel`, no body, private. */
async function manage(init: Init, payload: Record<string, unknown>) {
  const response = await send(init, credential(await challengeFor(init), payload))
  expect(response.status).toBe(200)
  expect(await response.text()).toBe('')
  expect(response.headers.get('Cache-Control')).toMatch(/^private\b/)
  expect(response.headers.get('X-Request-Id')).toBeTruthy()
  const receipt = receiptOf(response)!
  expect(receipt).toMatchObject({
    method: 'tempo',
    intent: 'session',
    status: 'success',
    channelId: payload.channelId,
    reference: payload.channelId,
  })
  return { response, receipt }
}

describe('HEAD carrying each action, one channel through its life', () => {
  let payer: Payer
  let channel: Channel
  let open: { channelId: Hex; transaction: Hex }
  let topUp: Hex
  let spent = 0n
  beforeAll(async () => {
    payer = await newPayer(5_000_000n)
    open = await openTransaction(payer, deposit)
    channel = { payer, channelId: open.channelId, deposit, signed: new Map(), accepted: { amount: 0n, signature: '0x' } }
  })

  const openPayload = async () => ({
    action: 'open',
    type: 'transaction',
    channelId: open.channelId,
    transaction: open.transaction,
    cumulativeAmount: '100000',
    signature: await sign(channel, 100_000n),
  })

  it('open: the channel exists on chain with the deposit, accepted at the initial voucher, nothing spent or served', async () => {
    const [money, calls] = await Promise.all([balances(payer), upstream.calls()])
    const { response, receipt } = await manage(head, await openPayload())
    await observe(channel, response)
    expect(receipt).toMatchObject({ acceptedCumulative: '100000', spent: '0' })
    expect(await onChain(channel.channelId)).toEqual({ deposit, settled: 0n, finalized: false, closeRequestedAt: 0n })
    expect(await balances(payer)).toEqual({ payer: money.payer - deposit, payee: money.payee, escrow: money.escrow + deposit })
    expect(await upstream.calls()).toBe(calls)
  })

  it('open again (the same transaction): 200, nothing changes', async () => {
    const before = await snapshot(channel)
    const { receipt } = await manage(head, await openPayload())
    expect(receipt).toMatchObject({ acceptedCumulative: '100000', spent: '0' })
    expect(await snapshot(channel)).toEqual(before)
  })

  it('voucher: accepted further, nothing spent, nothing on chain', async () => {
    const before = await snapshot(channel)
    const { response, receipt } = await manage(head, await voucher(channel, 300_000n))
    await observe(channel, response)
    expect(receipt).toMatchObject({ acceptedCumulative: '300000', spent: '0' })
    expect(await snapshot(channel)).toEqual({ ...before, state: { spent: 0n, acceptedCumulative: 300_000n } })
  })

  it('GET and a bodiless POST are management too: a voucher on them is accepted, nothing served', async () => {
    for (const [init, amount] of [
      [{ method: 'GET' }, 400_000n],
      [{ method: 'POST' }, 500_000n],
    ] as const) {
      const before = await snapshot(channel)
      const { response, receipt } = await manage(init, await voucher(channel, amount))
      await observe(channel, response)
      expect(receipt).toMatchObject({ acceptedCumulative: amount.toString(), spent: '0' })
      expect(await snapshot(channel)).toEqual({ ...before, state: { spent: 0n, acceptedCumulative: amount } })
    }
  })

  it('(a paid completion in between, so there is something to capture)', async () => {
    const { receipt } = await paidChat(channel, chatBody(models.fixed))
    spent = 1_600n
    expect(receipt).toMatchObject({ spent: '1600', acceptedCumulative: '500000' })
  })

  it('topUp: the deposit grows by exactly the amount, paid by the payer into the escrow; accounts unchanged', async () => {
    const before = await snapshot(channel)
    topUp = await topUpTransaction(channel, 250_000n)
    const { receipt } = await manage(head, {
      action: 'topUp',
      type: 'transaction',
      channelId: channel.channelId,
      transaction: topUp,
      additionalDeposit: '250000',
    })
    expect(receipt).toMatchObject({ acceptedCumulative: '500000', spent: '1600', txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) })
    expect(await snapshot(channel)).toEqual({
      ...before,
      onchain: { ...before.onchain, deposit: deposit + 250_000n },
      money: { ...before.money, payer: before.money.payer - 250_000n, escrow: before.money.escrow + 250_000n },
    })
  })

  it('topUp again (the same transaction): refused, nothing changes', async () => {
    const before = await snapshot(channel)
    const init = { method: 'GET' }
    const response = await send(
      init,
      credential(await challengeFor(init), {
        action: 'topUp',
        type: 'transaction',
        channelId: channel.channelId,
        transaction: topUp,
        additionalDeposit: '250000',
      }),
    )
    // Sent again (it is already mined), the deposit read back did not grow by it.
    expect((await expectProblem(response, 'mpp_payment_verification_failed')).detail).toMatch(/did not grow/)
    expect(await snapshot(channel)).toEqual(before)
  })

  it('close for more than was spent: 402 naming the amount to sign, nothing changes', async () => {
    const before = await snapshot(channel)
    const init = { method: 'GET' }
    const payload = { action: 'close', channelId: channel.channelId, cumulativeAmount: '500000', signature: await sign(channel, 500_000n) }
    const problem = await expectProblem(await send(init, credential(await challengeFor(init), payload)), 'mpp_payment_verification_failed')
    expect(problem).toMatchObject({ requiredCumulative: spent.toString(), acceptedCumulative: '500000' })
    expect(await snapshot(channel)).toEqual(before)
  })

  it('close: the payee captures exactly what was spent, the payer gets the rest back, the channel is final', async () => {
    const [money, calls] = await Promise.all([balances(payer), upstream.calls()])
    const total = deposit + 250_000n
    const { receipt } = await manage(head, {
      action: 'close',
      channelId: channel.channelId,
      cumulativeAmount: spent.toString(),
      signature: await sign(channel, spent),
    })
    expect(receipt).toMatchObject({
      spent: spent.toString(),
      acceptedCumulative: '500000',
      txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    })
    expect((await onChain(channel.channelId)).finalized).toBe(true)
    // The close moved exactly: escrow → payee the capture, escrow → payer the rest, and the payee's own fee for sending it.
    const transfers = await transfersOf(receipt.txHash as Hex)
    const fee = transfers.find((transfer) => transfer.from === payeeAddress && transfer.to === feeManager)?.amount ?? 0n
    expect(transfers).toEqual(
      expect.arrayContaining([
        { from: escrowAddress, to: payeeAddress, amount: spent },
        { from: escrowAddress, to: payer.address, amount: total - spent },
      ]),
    )
    expect(transfers).toHaveLength(fee === 0n ? 2 : 3)
    expect(await balances(payer)).toEqual({
      payer: money.payer + total - spent,
      payee: money.payee + spent - fee,
      escrow: money.escrow - total,
    })
    expect(await upstream.calls()).toBe(calls)
  })

  it('close again, and any voucher after it: 410 mpp_channel_finalized, nothing moves', async () => {
    const money = await balances(payer)
    const payload = {
      action: 'close',
      channelId: channel.channelId,
      cumulativeAmount: spent.toString(),
      signature: await sign(channel, spent),
    }
    expectHeadProblem(await send(head, credential(await challengeFor(head), payload)), 'mpp_channel_finalized')
    const get = { method: 'GET' }
    const { amount, signature } = channel.accepted
    for (const payload of [await voucher(channel, amount, signature), await voucher(channel, 600_000n)])
      await expectProblem(await send(get, credential(await challengeFor(get), payload)), 'mpp_channel_finalized')
    expect(await balances(payer)).toEqual(money)
  })
})
