import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Challenge } from '../../src/protocol/challenge.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { price, type SessionFixture, startSession } from '../support/session.js'

// draft-tempo-session §Denial of Service: servers MUST enforce minVoucherDelta when present.
let session: SessionFixture
beforeAll(async () => {
  session = await startSession({ method: { minVoucherDelta: 50_000n } })
})
afterAll(async () => {
  await session?.stop()
})

describe('minVoucherDelta', () => {
  it('is advertised in the challenge and enforced before any signature work', async () => {
    const advertised = Challenge.request(await session.challenge()).methodDetails as Record<string, string>
    expect(advertised.minVoucherDelta).toBe('50000')
    const payer = await session.payer(5)
    expect((await payer.client.fetch('http://gateway.test/v1/paid', { method: 'POST', body: '{}' })).status).toBe(200)
    const channel = [...payer.client.channels.values()][0]!
    const context = { chainId: session.anvil.chain.id, escrow: session.escrowAddress }
    const voucher = async (amount: bigint) => ({
      action: 'voucher',
      channelId: channel.channelId,
      cumulativeAmount: amount.toString(),
      signature: await signVoucher(payer.account, context, { channelId: channel.channelId, cumulativeAmount: amount }),
    })
    const small = await session.send(await voucher(price + 49_999n))
    expect(small.status).toBe(402)
    expect(await small.json()).toMatchObject({
      code: 'mpp_payment_verification_failed',
      type: 'https://paymentauth.org/problems/session/delta-too-small',
    })
    expect((await session.store.getChannel(channel.channelId))?.acceptedCumulative).toBe(price)
    expect((await session.send(await voucher(price + price))).status).toBe(200)
  })
})
