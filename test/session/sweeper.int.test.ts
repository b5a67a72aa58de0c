// The settlement sweeper against anvil, with the engine's clock moved forward
// (and the chain's, where the escrow looks at time): unsettled spend older than
// `settleAfter` is settled; a channel idle past `closeIdleAfter` is closed, the
// payee capturing what was spent and the payer refunded exactly the rest;
// reconciliation notices a settlement made outside the gateway; and two
// instances on one PostgreSQL sweep one at a time and send one settlement.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pathUsdAddress } from '../../contracts-abi/tip20.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import { tempoSession } from '../../src/session/engine.js'
import { type SweepLine, settlementSweeper } from '../../src/session/sweeper.js'
import { postgresStore, type SqlSessionStore } from '../../src/stores/postgres.js'
import { pathUsdBalance, testAccounts, zeroFees } from '../harness/local-chain.js'
import { type PostgresServer, startPostgres } from '../harness/postgres.js'
import { price, type SessionFixture, settledAmounts, startSession } from '../support/session.js'

const url = 'http://gateway.test/v1/paid'
const request = { method: 'POST', body: '{}' }
const hour = 3_600_000

const stops: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const stop of stops.reverse()) await stop()
})

/** A session whose engine clock runs `clock.skew` ms ahead of the wall clock. */
async function fixture(method: NonNullable<Parameters<typeof startSession>[0]>['method'], store?: SqlSessionStore) {
  const clock = { skew: 0 }
  const session = await startSession({ method: { now: () => Date.now() + clock.skew, ...method }, ...(store ? { store } : {}) })
  stops.push(session.stop)
  return { session, clock }
}

function sweeper(
  session: SessionFixture,
  engine = session.method,
  store = session.store as Parameters<typeof settlementSweeper>[0]['store'],
) {
  const lines: SweepLine[] = []
  const errors: unknown[] = []
  const job = settlementSweeper({ session: engine, store, log: (line) => lines.push(line), onError: (error) => errors.push(error) })
  return { job, lines, errors }
}

describe('settlement sweeper', () => {
  it('settles unsettled spend once it is older than settleAfter, and not before', async () => {
    const { session, clock } = await fixture({ settleAfter: hour })
    const payer = await session.payer(5)
    for (let i = 0; i < 2; i++) expect((await payer.client.fetch(url, request)).status).toBe(200)
    const { channelId } = [...payer.client.channels.values()][0]!
    const { job, lines, errors } = sweeper(session)
    expect((await job.step()).lines).toEqual([])
    clock.skew = hour + 1
    const before = await pathUsdBalance(session.chain, session.payeeAddress)
    const step = await job.step()
    expect(errors).toEqual([])
    expect(step.lines).toEqual([
      expect.objectContaining({ event: 'sweep', channelId, reason: 'age', outcome: 'settled', amount: '200000' }),
    ])
    expect((await pathUsdBalance(session.chain, session.payeeAddress)) - before).toBe(2n * price)
    expect(await session.store.getChannel(channelId)).toMatchObject({ settled: 2n * price, spent: 2n * price })
    expect((await session.store.getChannel(channelId))?.unsettledSince).toBeUndefined()
    // Everything spent is settled: the next pass has nothing to do, and the channel still serves.
    expect((await job.step()).lines).toEqual([])
    expect(lines).toHaveLength(1)
    expect((await payer.client.fetch(url, request)).status).toBe(200)
  })

  it('closes a channel idle past closeIdleAfter: the payee captures what was spent, the payer gets exactly the rest', async () => {
    const { session, clock } = await fixture({ closeIdleAfter: 30 * 24 * hour })
    const payer = await session.payer(6)
    for (let i = 0; i < 3; i++) expect((await payer.client.fetch(url, request)).status).toBe(200)
    const { channelId } = [...payer.client.channels.values()][0]!
    const { job, errors } = sweeper(session)
    clock.skew = 29 * 24 * hour
    expect((await job.step()).lines).toEqual([])
    clock.skew = 30 * 24 * hour + 1
    const payeeBefore = await pathUsdBalance(session.chain, session.payeeAddress)
    const payerBefore = await pathUsdBalance(session.chain, payer.address)
    const step = await job.step()
    expect(errors).toEqual([])
    expect(step.lines).toEqual([
      expect.objectContaining({ event: 'sweep', channelId, reason: 'idle', outcome: 'closed', amount: '300000' }),
    ])
    expect((await pathUsdBalance(session.chain, session.payeeAddress)) - payeeBefore).toBe(3n * price)
    expect((await pathUsdBalance(session.chain, payer.address)) - payerBefore).toBe(1_000_000n - 3n * price)
    expect(await session.store.getChannel(channelId)).toMatchObject({ finalized: true, closing: false, settled: 3n * price })
    expect((await session.escrow.getChannel(channelId))?.finalized).toBe(true)
    // Closed: no more service on it, and nothing more to sweep.
    expect((await payer.client.fetch(url, request)).status).not.toBe(200)
    expect((await job.step()).lines).toEqual([])
  })

  it('does not close a channel in use: a request paid from the bucket resets the idle clock', async () => {
    // A bucket of ten requests: the second request signs no voucher, only its reservation and commit show the activity.
    const { session, clock } = await fixture({ closeIdleAfter: hour, bucketSize: 10n * price })
    const payer = await session.payer(7)
    expect((await payer.client.fetch(url, request)).status).toBe(200)
    clock.skew = hour - 1_000
    expect((await payer.client.fetch(url, request)).status).toBe(200)
    clock.skew = hour + 1
    const { job } = sweeper(session)
    expect((await job.step()).lines).toEqual([])
  })

  it('notices a settlement made outside the gateway and corrects the store', async () => {
    const { session } = await fixture({})
    const payer = await session.payer(8)
    for (let i = 0; i < 2; i++) expect((await payer.client.fetch(url, request)).status).toBe(200)
    const { channelId } = [...payer.client.channels.values()][0]!
    // Another deployment with the payee key settles the first voucher itself.
    const held = await session.store.getChannel(channelId)
    const first = held!.vouchers.find((voucher) => voucher.amount === price)!
    const elsewhere = viemEscrow({
      address: session.escrowAddress,
      chain: session.anvil.chain,
      rpcUrl: session.anvil.rpcUrl,
      payee: testAccounts[4]!,
      fees: zeroFees,
      pollingIntervalMs: 10,
    })
    await elsewhere.settle(channelId, first.amount, first.signature)
    const job = settlementSweeper({ session: session.method, store: session.store, reconcileAfter: 0, log: () => {} })
    const step = await job.step()
    expect(step.lines).toContainEqual({ event: 'reconcile', channelId, changed: { settled: { store: '0', chain: '100000' } } })
    expect((await session.store.getChannel(channelId))?.settled).toBe(price)
    expect(await settledAmounts(session, channelId)).toEqual([price])
  })
})

describe('two instances on one PostgreSQL', () => {
  let postgres: PostgresServer
  beforeAll(async () => {
    postgres = await startPostgres()
    stops.push(() => postgres.stop())
  })

  it('sweep one at a time: the job lock is held across connections, and one settlement is sent', async () => {
    const [first, second] = [
      postgresStore({ connectionString: postgres.connectionString }),
      postgresStore({ connectionString: postgres.connectionString }),
    ]
    stops.push(async () => {
      await first!.close()
      await second!.close()
    })
    const { session, clock } = await fixture({ settleAfter: hour }, first)
    const payer = await session.payer(9)
    for (let i = 0; i < 3; i++) expect((await payer.client.fetch(url, request)).status).toBe(200)
    const { channelId } = [...payer.client.channels.values()][0]!
    const otherEngine = tempoSession({
      escrow: viemEscrow({
        address: session.escrowAddress,
        chain: session.anvil.chain,
        rpcUrl: session.anvil.rpcUrl,
        payee: testAccounts[4]!,
        fees: zeroFees,
        pollingIntervalMs: 10,
      }),
      store: second!,
      recipient: session.payeeAddress,
      currency: pathUsdAddress,
      minDeposit: 1_000_000n,
      settleAfter: hour,
      now: () => Date.now() + clock.skew,
    })
    const a = sweeper(session, session.method, first!)
    const b = sweeper(session, otherEngine, second!)
    // While one instance holds the job, the other's step does nothing at all.
    const inside = await first!.runExclusive(`settlement-sweeper/${session.payeeAddress}`, () => b.job.step())
    expect(inside).toEqual({ ran: true, value: { ran: false, channels: 0, reconciled: 0, lines: [] } })

    clock.skew = hour + 1
    const steps = await Promise.all([a.job.step(), b.job.step()])
    expect([...a.errors, ...b.errors]).toEqual([])
    const settled = [...a.lines, ...b.lines].filter((line) => line.event === 'sweep' && line.outcome === 'settled')
    expect(settled).toHaveLength(1)
    expect(steps.some((step) => step.ran)).toBe(true)
    expect(await settledAmounts(session, channelId)).toEqual([3n * price])
    expect((await second!.getChannel(channelId))?.settled).toBe(3n * price)
  })
})
