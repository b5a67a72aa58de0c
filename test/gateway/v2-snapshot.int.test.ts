// v2 session snapshots through the gateway (draft-tempo-session §Session
// Snapshot): every response carrying a v2 `Payment-Receipt` (paid
// completions, an idempotent replay, a top-up, the close) also carries
// `Payment-Session` (the channel id) and `Payment-Session-Snapshot`, agreeing
// with the receipt and the store; a 402 carries neither, but one answering a
// credential that names the channel has the snapshot in `methodDetails.sessionSnapshot`. The project's session
// client pays, on the channel reserve stand-in on anvil; mppx 0.11's client
// resumes the channel from a snapshot the gateway sent. (v1 routes never send
// them: test/gateway/chat.int.test.ts.)
import { afterAll, beforeAll, expect, it } from 'vitest'
import { Challenge } from '../../src/protocol/challenge.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { tip20ChannelReserveAddress } from '../../src/session/v2/reserve.js'
import { formatSnapshot, parseSnapshot, type SessionSnapshot, snapshotFromJson } from '../../src/session/v2/snapshot.js'
import { chatRequest, completionsUrl } from '../support/gateway.js'
import { runMppxScript } from '../support/mppx-script.js'
import { startV2GatewayFixture } from '../support/v2/gateway.js'

let gateway: Awaited<ReturnType<typeof startV2GatewayFixture>>

beforeAll(async () => {
  gateway = await startV2GatewayFixture({ bucketSize: 1n })
})
afterAll(async () => {
  await gateway?.stop()
})

/** What mppx 0.11's client resumes from a snapshot header (test/interop/clients/mppx-hydrate.ts, in the nested package). */
const mppxHydrate = (input: { header: string; rpcUrl: string; chainId: number; payer: string }) =>
  runMppxScript<Record<string, unknown>>('mppx-hydrate.ts', input)

/** The response's snapshot, after checking `Payment-Session` and the snapshot name the receipt's channel. */
function snapshotOf(response: Response): { snapshot: SessionSnapshot; receipt: Receipt } {
  const receipt = Receipt.parse(response.headers.get('Payment-Receipt')!)
  const snapshot = parseSnapshot(response.headers.get('Payment-Session-Snapshot')!)
  expect(response.headers.get('Payment-Session')).toBe(receipt.channelId)
  expect(snapshot.channelId).toBe(receipt.channelId)
  return { snapshot, receipt }
}

it('carries the channel as the receipt and the store have it, on paid completions, a 402 naming it, a replay, a top-up and the close', async () => {
  // Every response the client receives, in order: top-ups and the close return only their receipts.
  const responses: Response[] = []
  const credentials: string[] = []
  const payer = await gateway.payer(1_000_000n, 10_000_000n, {
    fetch: async (input, init) => {
      const response = await gateway.fetch(input, init)
      responses.push(response.clone())
      const authorization = new Headers(init?.headers).get('Authorization')
      if (authorization !== null && response.status === 200) credentials.push(authorization)
      return response
    },
  })

  const unpaid = await gateway.fetch(completionsUrl, chatRequest('usage:40,60'))
  expect(unpaid.status).toBe(402)
  expect(unpaid.headers.has('Payment-Session')).toBe(false)
  expect(unpaid.headers.has('Payment-Session-Snapshot')).toBe(false)

  for (let i = 1n; i <= 3n; i++) {
    const response = await payer.client.fetch(completionsUrl, chatRequest('usage:40,60'))
    expect(response.status).toBe(200)
    const { snapshot, receipt } = snapshotOf(response)
    const stored = (await gateway.store.getChannel(receipt.channelId as `0x${string}`))!
    expect(snapshot).toEqual({
      acceptedCumulative: receipt.acceptedCumulative,
      chainId: 31337,
      channelId: receipt.channelId,
      deposit: '1000000',
      descriptor: stored.descriptor,
      escrow: tip20ChannelReserveAddress,
      // The payer's own voucher for acceptedCumulative (mppx 0.11's client resumes only with it).
      highestVoucher: {
        channelId: receipt.channelId,
        cumulativeAmount: receipt.acceptedCumulative,
        signature: stored.vouchers.at(-1)!.signature,
      },
      // Nothing is held after the commit: what the server needs is what was spent.
      requiredCumulative: receipt.spent,
      settled: '0',
      spent: (1_600n * i).toString(),
    })
    expect(snapshot.acceptedCumulative).toBe(stored.acceptedCumulative.toString())
  }

  // mppx 0.11's client (its storeSnapshotHeader path) resumes the channel from the last paid response's snapshot:
  // the voucher's signature, the descriptor's payer and the channel on chain all check out.
  const lastPaid = responses.filter((r) => r.status === 200).at(-1)!
  const header = lastPaid.headers.get('Payment-Session-Snapshot')!
  const paid = parseSnapshot(header)
  const hydrate = (h: string) => mppxHydrate({ header: h, rpcUrl: gateway.chain.rpcUrl, chainId: 31337, payer: payer.address })
  expect(await hydrate(header)).toEqual({
    entry: {
      channelId: paid.channelId,
      cumulativeAmount: paid.acceptedCumulative,
      deposit: '1000000',
      descriptor: paid.descriptor,
      escrow: paid.escrow,
      chainId: 31337,
      opened: true,
    },
    spent: '4800',
  })
  // The same snapshot claiming a higher accepted amount: its voucher's signature no longer matches, and mppx refuses it.
  const raised = { ...paid, acceptedCumulative: '9999', highestVoucher: { ...paid.highestVoucher!, cumulativeAmount: '9999' } }
  expect(await hydrate(formatSnapshot(raised))).toEqual({ error: 'session snapshot highest voucher signature is invalid' })

  // A 402 answering a credential that names the channel (here a replayed one: its challenge is used) carries the snapshot in methodDetails.
  const replayed = await gateway.fetch(completionsUrl, {
    ...chatRequest('usage:40,60'),
    headers: { 'Content-Type': 'application/json', Authorization: credentials.at(-1)! },
  })
  expect(replayed.status).toBe(402)
  expect(replayed.headers.has('Payment-Session-Snapshot')).toBe(false)
  const challenge = Challenge.parseAll(replayed.headers.get('WWW-Authenticate')!)[0]!
  const { methodDetails } = Challenge.request(challenge) as { methodDetails: Record<string, unknown> }
  const channelId = methodDetails.channelId as `0x${string}`
  const stored = (await gateway.store.getChannel(channelId))!
  // Through the strict parser: its channel id derives from its descriptor, escrow and chain id.
  expect(snapshotFromJson(methodDetails.sessionSnapshot)).toEqual({
    acceptedCumulative: stored.acceptedCumulative.toString(),
    chainId: 31337,
    channelId,
    deposit: '1000000',
    descriptor: stored.descriptor,
    escrow: tip20ChannelReserveAddress,
    highestVoucher: { channelId, cumulativeAmount: stored.acceptedCumulative.toString(), signature: stored.vouchers.at(-1)!.signature },
    requiredCumulative: methodDetails.requiredCumulative,
    settled: '0',
    spent: '4800',
  })

  // An Idempotency-Key retry replays the stored response: the same receipt, the same snapshot.
  const headers = { 'Idempotency-Key': 'snapshot-replay' }
  const first = await payer.client.fetch(completionsUrl, chatRequest('usage:40,60', { headers, content: 'once' }))
  const second = await payer.client.fetch(completionsUrl, chatRequest('usage:40,60', { headers, content: 'once' }))
  expect(snapshotOf(first).snapshot.spent).toBe('6400')
  expect(second.headers.get('Payment-Receipt')).toBe(first.headers.get('Payment-Receipt'))
  expect(second.headers.get('Payment-Session-Snapshot')).toBe(first.headers.get('Payment-Session-Snapshot'))

  await payer.client.topUp(completionsUrl, 500_000n)
  const toppedUp = snapshotOf(responses.at(-1)!)
  expect(toppedUp.snapshot).toMatchObject({ deposit: '1500000', spent: '6400', acceptedCumulative: toppedUp.receipt.acceptedCumulative })

  const closed = await payer.client.close(completionsUrl)
  const last = snapshotOf(responses.at(-1)!)
  expect(last.receipt).toEqual(closed)
  // The precompile captured exactly spent.
  expect(last.snapshot).toMatchObject({ spent: '6400', settled: '6400', acceptedCumulative: closed.acceptedCumulative })
}, 60_000)
