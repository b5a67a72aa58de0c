// Session protocol v2 end to end: the paid chat-completions gateway on v2, the
// project's session client paying it (0x76 expiring-nonce opens, TIP20 Channel
// Reserve vouchers, descriptors in every payload), and the channel reserve
// stand-in on anvil (test/support/v2/). Balances are exact (zero fees): the
// payee ends with exactly what the receipts say was spent, the payer with
// exactly the rest, through a cooperative close from an over-authorizing
// voucher and through a forced close the close watcher answers within the
// grace period.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { Challenge } from '../../src/protocol/challenge.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { type CloseWatchLine, closeWatcher } from '../../src/session/close-watch.js'
import { tip20ChannelReserveAddress } from '../../src/session/v2/reserve.js'
import { chatRequest, completionsUrl } from '../support/gateway.js'
import { startV2GatewayFixture } from '../support/v2/gateway.js'
import { sendPayerCall } from '../support/v2/transactions.js'

let gateway: Awaited<ReturnType<typeof startV2GatewayFixture>>
const funds = 10_000_000n

beforeAll(async () => {
  gateway = await startV2GatewayFixture({ bucketSize: 1n })
})
afterAll(async () => {
  await gateway?.stop()
})
let payeeStart: bigint
beforeEach(async () => {
  payeeStart = await gateway.balance(gateway.payeeAddress)
})

const receiptOf = (response: Response) => Receipt.parse(response.headers.get('Payment-Receipt')!)
const payeeGained = async () => (await gateway.balance(gateway.payeeAddress)) - payeeStart

/** Three paid completions (usage 40 in, 60 out at 10 and 20 per token: 1,600 each); the last receipt's spent. */
async function completions(client: Awaited<ReturnType<typeof gateway.payer>>['client'], count: number): Promise<bigint> {
  let spent = 0n
  for (let i = 0; i < count; i++) {
    const response = await client.fetch(completionsUrl, chatRequest('usage:40,60'))
    expect(response.status).toBe(200)
    await response.json()
    spent = BigInt(receiptOf(response).spent as string)
    expect(spent).toBe(1_600n * BigInt(i + 1))
  }
  return spent
}

describe('session v2 through the gateway, paid by the project client', () => {
  it('offers v2 on the chat route', async () => {
    const response = await gateway.fetch(completionsUrl, chatRequest('usage:40,60'))
    expect(response.status).toBe(402)
    const challenge = Challenge.parseAll(response.headers.get('WWW-Authenticate')!)[0]!
    expect((Challenge.request(challenge) as { methodDetails: object }).methodDetails).toMatchObject({
      sessionProtocol: 'v2',
      escrowContract: tip20ChannelReserveAddress,
      chainId: 31337,
    })
  })

  it('opens, pays completions, tops up, settles, and closes capturing exactly spent from a larger voucher', async () => {
    const payer = await gateway.payer(1_000_000n, funds)
    const spent = await completions(payer.client, 3)
    const channel = payer.channel()
    expect(channel.descriptor).toMatchObject({ payer: payer.address, payee: gateway.payeeAddress })
    expect((await gateway.store.getChannel(channel.channelId))?.descriptor).toEqual(channel.descriptor)

    await payer.client.topUp(completionsUrl, 500_000n)
    expect((await gateway.store.getChannel(channel.channelId))?.deposit).toBe(1_500_000n)
    expect(await gateway.balance(payer.address)).toBe(funds - 1_500_000n)

    // Settles the highest accepted voucher not above spent: the channel stays open.
    const settled = await gateway.method.settle(channel.channelId)
    expect(settled?.amount).toBeGreaterThan(0n)
    expect(settled?.amount).toBeLessThanOrEqual(spent)
    expect(await payeeGained()).toBe(settled?.amount)

    // The client closes with its highest voucher, above spent; the precompile captures exactly spent.
    expect(channel.signedCumulative).toBeGreaterThan(spent)
    const closed = await payer.client.close(completionsUrl)
    expect(closed).toMatchObject({ channelId: channel.channelId, spent: spent.toString() })
    expect(await payeeGained()).toBe(spent)
    expect(await gateway.balance(payer.address)).toBe(funds - spent)
    expect(await gateway.store.getChannel(channel.channelId)).toMatchObject({ finalized: true, settled: spent })
  })

  it('on a forced close, the close watcher refuses the channel and captures exactly spent within the grace period', async () => {
    const payer = await gateway.payer(2_000_000n, funds)
    const spent = await completions(payer.client, 2)
    const channel = payer.channel()
    await sendPayerCall(payer.wallet, 'requestClose', channel.descriptor!)

    const lines: CloseWatchLine[] = []
    const watcher = closeWatcher({
      session: gateway.method,
      events: gateway.escrow,
      cursors: gateway.store,
      log: (line) => lines.push(line),
    })
    await watcher.step()
    expect(lines).toEqual([
      expect.objectContaining({
        channelId: channel.channelId,
        seen: 'requested',
        state: 'close_requested',
        settlement: 'closed',
        settled: spent.toString(),
      }),
    ])
    expect(await payeeGained()).toBe(spent)
    // The close refunded the payer everything else: deposit − spent, with nothing left to withdraw.
    expect(await gateway.balance(payer.address)).toBe(funds - spent)
    expect(await gateway.store.getChannel(channel.channelId)).toMatchObject({ finalized: true, settled: spent })
    expect(await gateway.method.followCloseRequest(channel.channelId)).toEqual({ kind: 'closed' })
  })
})
