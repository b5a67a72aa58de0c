// The books over everything the suite did (this file runs last:
// sequencer.ts), whatever the attacks in between. The gateways' log lines (one
// per decided request, from every instance the suite started) against the fake
// upstream's call counter and the chain: the upstream was reached only by
// requests that were charged, or whose upstream refusal was passed on with
// nothing charged; each channel's charges add up to the `spent` of its last
// receipt; no payer paid more than its receipts, each payee received exactly
// what its channels captured, the escrow holds exactly what is still open;
// and no gateway answered anything with an internal error. Run alone, it
// checks whatever the target has seen so far.
import type { Address, Hex } from 'viem'
import { beforeAll, describe, expect, it } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { pathUsdAddress, tip20Abi } from '../../contracts-abi/tip20.js'
import type { PaymentLogEntry } from '../../src/payment/logger.js'
import { allLogs, balanceOf, chain, completionsPath, escrowAddress, onChain, upstream } from './support.js'

let logs: PaymentLogEntry[]
/** Lines of requests served and charged. */
let charged: PaymentLogEntry[]
/** Lines of requests the upstream refused, its answer passed on. */
let passedOn: PaymentLogEntry[]
beforeAll(() => {
  // The lines of decided requests (the start lines carry no request).
  logs = allLogs().filter((line) => line.requestId !== undefined)
  charged = logs.filter((line) => line.code === 'paid' && line.amounts?.charged !== undefined)
  passedOn = logs.filter((line) => line.code.startsWith('upstream_'))
})

const sum = (amounts: bigint[]) => amounts.reduce((total, amount) => total + amount, 0n)
const lower = (address: string) => address.toLowerCase() as Address

describe('the upstream', () => {
  it('was reached only by requests that were charged, or whose upstream refusal was passed on uncharged', async () => {
    expect(await upstream.totalCalls()).toBe(charged.length + passedOn.length)
    for (const line of charged) {
      expect(line).toMatchObject({ route: `POST ${completionsPath}`, status: 200, channelId: expect.any(String) })
      expect(BigInt(line.amounts!.charged!)).toBeGreaterThan(0n)
    }
    for (const line of passedOn) expect(line.amounts?.charged).toBeUndefined()
    // Every request that reserved (the step before the upstream) ended in one of the two.
    expect(logs.filter((line) => line.amounts?.reserved !== undefined && !charged.includes(line) && !passedOn.includes(line))).toEqual([])
  })
})

describe('the money', () => {
  it('each channel: its charges add up to its last receipt, and what it paid on chain is at most that (exactly that once closed)', async () => {
    const opened = await chain.getContractEvents({ address: escrowAddress, abi: escrowAbi, eventName: 'ChannelOpened', fromBlock: 0n })
    const closed = await chain.getContractEvents({ address: escrowAddress, abi: escrowAbi, eventName: 'ChannelClosed', fromBlock: 0n })
    const chargedOn = (channelId: Hex) => charged.filter((line) => line.channelId === channelId)
    const capturedOn = (channelId: Hex) => logs.filter((line) => line.channelId === channelId && line.amounts?.captured !== undefined)
    // Every channel the logs charged is one the escrow opened.
    const channelIds = new Set(opened.map((event) => event.args.channelId!))
    expect(charged.filter((line) => !channelIds.has(line.channelId as Hex))).toEqual([])

    const perPayer = new Map<Address, { receipts: bigint; paid: bigint }>()
    for (const { args } of opened) {
      const channelId = args.channelId!
      const lines = chargedOn(channelId)
      // The receipts' `spent` rise by each charge: the last is their sum.
      const receipts = sum(lines.map((line) => BigInt(line.amounts!.charged!)))
      const spents = lines.map((line) => BigInt(line.amounts!.spent!))
      expect(spents.reduce((max, spent) => (spent > max ? spent : max), 0n)).toBe(receipts)
      const close = closed.find((event) => event.args.channelId === channelId)
      let paid: bigint
      if (close === undefined) {
        paid = (await onChain(channelId)).settled
        expect(paid).toBeLessThanOrEqual(receipts)
      } else {
        // A close captures exactly what was spent, and nothing is charged after it.
        paid = close.args.settledToPayee!
        expect(paid).toBe(receipts)
        expect(capturedOn(channelId).map((line) => BigInt(line.amounts!.captured!))).toEqual([paid])
      }
      const payer = perPayer.get(lower(args.payer!)) ?? { receipts: 0n, paid: 0n }
      perPayer.set(lower(args.payer!), { receipts: payer.receipts + receipts, paid: payer.paid + paid })
    }
    for (const { receipts, paid } of perPayer.values()) expect(paid).toBeLessThanOrEqual(receipts)
  })

  it('no payer is out of pocket beyond what it paid, each payee received exactly what was captured, the escrow holds what is open', async () => {
    const opened = await chain.getContractEvents({ address: escrowAddress, abi: escrowAbi, eventName: 'ChannelOpened', fromBlock: 0n })
    const closed = await chain.getContractEvents({ address: escrowAddress, abi: escrowAbi, eventName: 'ChannelClosed', fromBlock: 0n })
    const transfer = (args: { from?: Address; to?: Address }) =>
      chain.getContractEvents({ address: pathUsdAddress, abi: tip20Abi, eventName: 'Transfer', args, fromBlock: 0n })
    const [intoEscrow, outOfEscrow] = await Promise.all([transfer({ to: escrowAddress }), transfer({ from: escrowAddress })])
    const moved = (events: typeof intoEscrow, side: 'from' | 'to', who: Address) =>
      sum(events.filter((event) => lower(event.args[side]!) === who).map((event) => event.args.amount!))

    const payers = new Map<Address, { paid: bigint; held: bigint }>()
    const payees = new Map<Address, bigint>()
    let open = 0n
    for (const { args } of opened) {
      const close = closed.find((event) => event.args.channelId === args.channelId)
      const live = close === undefined ? await onChain(args.channelId!) : undefined
      const paid = close?.args.settledToPayee ?? live!.settled
      const held = live === undefined ? 0n : live.deposit - live.settled
      open += held
      const payer = payers.get(lower(args.payer!)) ?? { paid: 0n, held: 0n }
      payers.set(lower(args.payer!), { paid: payer.paid + paid, held: payer.held + held })
      payees.set(lower(args.payee!), (payees.get(lower(args.payee!)) ?? 0n) + paid)
    }
    // What left each payer for the escrow and did not come back is what it paid, plus what its open channels hold.
    for (const [payer, { paid, held }] of payers)
      expect({ payer, out: moved(intoEscrow, 'from', payer) - moved(outOfEscrow, 'to', payer) }).toEqual({ payer, out: paid + held })
    for (const [payee, paid] of payees) expect({ payee, received: moved(outOfEscrow, 'to', payee) }).toEqual({ payee, received: paid })
    expect(await balanceOf(escrowAddress)).toBe(open)
  })
})

describe('the gateways', () => {
  it('logged no internal error', () => {
    expect(logs.filter((line) => line.code === 'mpp_internal_error' || line.status === 500)).toEqual([])
  })
})
