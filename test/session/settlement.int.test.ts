import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Receipt } from '../../src/protocol/receipt.js'
import { pathUsdBalance } from '../harness/local-chain.js'
import { price, type SessionFixture, startSession } from '../support/session.js'

const url = 'http://gateway.test/v1/paid'
const request = { method: 'POST', body: '{}' }
const fixtures: SessionFixture[] = []
afterAll(async () => {
  await Promise.all(fixtures.map((fixture) => fixture.stop()))
})
async function fixture(options: Parameters<typeof startSession>[0] = {}) {
  const session = await startSession(options)
  fixtures.push(session)
  return session
}

describe('settlement', () => {
  let session: SessionFixture
  beforeAll(async () => {
    session = await fixture()
  })

  it('settles with the highest accepted voucher not above spent, never the pre-authorized surplus', async () => {
    const payer = await session.payer(5, { maxCumulative: 500_000n })
    expect((await payer.client.fetch(url, request)).status).toBe(200) // open: voucher 100000, spent 100000
    const channel = [...payer.client.channels.values()][0]!
    // Pre-authorize a bucket of 500000 and spend one more request from it.
    const { signVoucher } = await import('../../src/session/v1/voucher.js')
    const context = { chainId: session.anvil.chain.id, escrow: session.escrowAddress }
    const bucket = {
      action: 'voucher',
      channelId: channel.channelId,
      cumulativeAmount: '500000',
      signature: await signVoucher(payer.account, context, { channelId: channel.channelId, cumulativeAmount: 500_000n }),
    }
    const paid = await session.send(bucket)
    expect(Receipt.parse(paid.headers.get('Payment-Receipt')!)).toMatchObject({ spent: '200000', acceptedCumulative: '500000' })

    const payeeBefore = await pathUsdBalance(session.chain, session.payeeAddress)
    const settled = await session.method.settle(channel.channelId)
    expect(settled?.amount).toBe(100_000n)
    expect((await session.escrow.getChannel(channel.channelId))?.settled).toBe(100_000n)
    expect((await pathUsdBalance(session.chain, session.payeeAddress)) - payeeBefore).toBe(100_000n)
    // Nothing accepted lies between settled and spent now.
    expect(await session.method.settle(channel.channelId)).toBeUndefined()

    // Close captures exactly spent (200000): 100000 more for the payee.
    // The client signed the bucket outside its own bookkeeping above; tell it.
    Object.assign(channel, { spent: 200_000n, signedCumulative: 500_000n })
    const close = await payer.client.close(url, request)
    expect(close.txHash).toBeDefined()
    expect((await pathUsdBalance(session.chain, session.payeeAddress)) - payeeBefore).toBe(200_000n)
    // The escrow deletes a closed channel and keeps only `finalized`; the balance above shows what was captured.
    expect(await session.escrow.getChannel(channel.channelId)).toMatchObject({ finalized: true, settled: 0n })
  })

  it('refuses a close voucher for more than was spent', async () => {
    const payer = await session.payer(6)
    expect((await payer.client.fetch(url, request)).status).toBe(200)
    const channel = [...payer.client.channels.values()][0]!
    const { signVoucher } = await import('../../src/session/v1/voucher.js')
    const context = { chainId: session.anvil.chain.id, escrow: session.escrowAddress }
    const response = await session.send({
      action: 'close',
      channelId: channel.channelId,
      cumulativeAmount: '150000',
      signature: await signVoucher(payer.account, context, { channelId: channel.channelId, cumulativeAmount: 150_000n }),
    })
    expect(response.status).toBe(402)
    expect(await response.json()).toMatchObject({ code: 'mpp_payment_verification_failed', requiredCumulative: '100000' })
    expect((await session.escrow.getChannel(channel.channelId))?.finalized).toBe(false)
  })

  it('settles in the background once unsettled spend passes the threshold', async () => {
    const eager = await fixture({ method: { settleThreshold: 2n * price } })
    const payer = await eager.payer(7)
    expect((await payer.client.fetch(url, request)).status).toBe(200)
    expect((await payer.client.fetch(url, request)).status).toBe(200)
    const channel = [...payer.client.channels.values()][0]!
    await expect
      .poll(async () => (await eager.escrow.getChannel(channel.channelId))?.settled, { timeout: 5_000, interval: 20 })
      .toBe(2n * price)
  })
})

describe('close failures', () => {
  it('keeps a close sent but not mined out of service, and serves again once the node dropped it', async () => {
    // A close gas limit far below what close needs: anvil takes the transaction, never mines it and forgets it.
    let skew = 0
    const starved = await fixture({ escrow: { gas: { close: 25_000n }, timeoutMs: 1_000 }, method: { now: () => Date.now() + skew } })
    const payer = await starved.payer(8)
    expect((await payer.client.fetch(url, request)).status).toBe(200)
    const channel = [...payer.client.channels.values()][0]!
    await expect(payer.client.close(url, request)).rejects.toThrow(/503.*mpp_chain_unavailable/)
    const held = await starved.store.getChannel(channel.channelId)
    expect(held).toMatchObject({ closing: true, pendingTransaction: { kind: 'close' } })
    expect(await starved.escrow.transactionStatus(held!.pendingTransaction!.txHash)).toBe('unknown')
    // Until it has had time to reach the chain, the channel neither serves nor closes again: no second close races the first.
    expect((await payer.client.fetch(url, request)).status).toBe(410)
    await expect(payer.client.close(url, request)).rejects.toThrow(/502.*mpp_session_close_failed/)
    // Past the wait for a transaction the node does not know: dropped, and the channel serves again.
    skew = 61_000
    expect((await payer.client.fetch(url, request)).status).toBe(200)
    expect((await starved.escrow.getChannel(channel.channelId))?.finalized).toBe(false)
    expect((await starved.store.getChannel(channel.channelId))?.closing).toBe(false)
  })
})

describe('a settle transaction that times out', () => {
  it('is asked about before another is sent, and counted once when it is mined late', async () => {
    const slow = await fixture({ escrow: { timeoutMs: 1_000 } })
    const payer = await slow.payer(9)
    expect((await payer.client.fetch(url, request)).status).toBe(200)
    expect((await payer.client.fetch(url, request)).status).toBe(200)
    const channel = [...payer.client.channels.values()][0]!
    const before = await pathUsdBalance(slow.chain, slow.payeeAddress)
    const mine = (method: string, params: unknown[]) => slow.chain.request({ method, params } as never)
    // The node takes the settle but does not mine it before the payee stops waiting.
    await mine('evm_setAutomine', [false])
    try {
      await expect(slow.method.settle(channel.channelId)).rejects.toMatchObject({ code: 'mpp_chain_unavailable' })
      const held = await slow.store.getChannel(channel.channelId)
      expect(held?.pendingTransaction).toMatchObject({ kind: 'settle', amount: 2n * price })
      expect(await slow.escrow.transactionStatus(held!.pendingTransaction!.txHash)).toBe('pending')
      // Still in the node's pool: nothing else is sent.
      expect(await slow.method.settle(channel.channelId)).toBeUndefined()
      await mine('evm_mine', [])
    } finally {
      await mine('evm_setAutomine', [true])
    }
    // Mined late: the next settlement finds it, records what it settled and sends nothing more.
    expect(await slow.method.settle(channel.channelId)).toBeUndefined()
    const after = await slow.store.getChannel(channel.channelId)
    expect(after?.pendingTransaction).toBeUndefined()
    expect(after?.settled).toBe(2n * price)
    expect((await pathUsdBalance(slow.chain, slow.payeeAddress)) - before).toBe(2n * price)
    expect((await slow.escrow.getChannel(channel.channelId))?.settled).toBe(2n * price)
  })
})
