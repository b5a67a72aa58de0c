// The settlement sweeper on Workers, inside workerd against the real anvil of
// the global setup: each channel's Durable Object runs the sweep from its alarm
// (src/worker.ts `ChannelObject`). The suite's bindings set the limits to a
// second or two and the sweep interval to a day, so no alarm sweeps by itself:
// each test makes the channel's sweep due (time travel in the object's
// storage) and runs the alarm as the runtime would.
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { type Address, createPublicClient, erc20Abi, type Hex, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, inject, it } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { sessionClient } from '../../src/client/session-client.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { durableObjectStore } from '../../src/stores/cloudflare/store.js'
import worker from '../../src/worker.js'
import { ask, chain, pathUsd, settledAmounts, url } from './support.js'

const rpc = () => createPublicClient({ chain: chain(), transport: http(inject('rpcUrl')) })
const bucket = 1_000n
const deposit = 1_000_000n
const day = 86_400_000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A channel paid for `requests` completions through the Worker (small buckets; the payee is the suite's). */
async function paidChannel(requests: number) {
  // The fetch side may use its own bucket size: the objects' sweeper settles whatever the store holds.
  const isolate = { ...env, BUCKET_SIZE: bucket.toString() }
  const context = { waitUntil() {}, passThroughOnException() {}, props: {} }
  const call = (input: string | URL | Request, init?: RequestInit) => worker.fetch(new Request(input, init), isolate, context)
  const account = privateKeyToAccount(inject('payerKeys')[3] as Hex)
  const client = sessionClient({
    account,
    chain: chain(),
    transport: http(inject('rpcUrl')),
    deposit,
    fees: { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n },
    fetch: call as typeof fetch,
  })
  let spent = 0n
  for (let i = 0; i < requests; i++) {
    const response = await client.fetch(url, ask(`question number ${i}`))
    expect(response.status).toBe(200)
    spent = BigInt(Receipt.parse(response.headers.get('Payment-Receipt')!).spent!)
  }
  const channelId = [...client.channels.values()][0]!.channelId
  return { channelId, spent, payer: account.address, object: env.CHANNELS.get(env.CHANNELS.idFromName(channelId)) }
}

type Storage = {
  storage: { getAlarm(): Promise<number | null>; sql: { exec(query: string, ...bindings: unknown[]): { toArray(): unknown[] } } }
}
const dueAt = (object: object) =>
  runInDurableObject(object, (_instance, state) => {
    const row = (state as unknown as Storage).storage.sql.exec('SELECT due_at FROM channel_sweep').toArray()[0] as
      | { due_at: number }
      | undefined
    return row?.due_at
  })
const alarmAt = (object: object) => runInDurableObject(object, (_instance, state) => (state as unknown as Storage).storage.getAlarm())
/** Moves the channel's sweep to now, as if the interval had passed. */
const makeDue = (object: object) =>
  runInDurableObject(object, (_instance, state) => {
    ;(state as unknown as Storage).storage.sql.exec('UPDATE channel_sweep SET due_at = ?', Date.now())
  })

describe('the Worker: the settlement sweeper on Durable Object alarms', () => {
  it('schedules a written channel within the interval and settles spend older than SETTLE_AFTER_MS from the alarm', async () => {
    const { channelId, spent, object } = await paidChannel(6)
    expect(spent).toBeGreaterThan(bucket)
    // Each write keeps the sweep within a day (the suite's SWEEP_INTERVAL_MS), and the alarm no later than it.
    const due = await dueAt(object)
    expect(due).toBeGreaterThan(Date.now() + day - 60_000)
    expect(due).toBeLessThanOrEqual(Date.now() + day)
    expect(await alarmAt(object)).toBeLessThanOrEqual(due!)

    await sleep(1_100) // past SETTLE_AFTER_MS since the first unsettled charge
    await makeDue(object)
    expect(await runDurableObjectAlarm(object)).toBe(true)

    const settled = (spent / bucket) * bucket // the highest voucher not above spent: whole buckets
    expect(await settledAmounts(channelId)).toEqual([settled])
    expect(await durableObjectStore(env).getChannel(channelId)).toMatchObject({ spent, settled })
    // Next due no sooner than the interval, and the alarm set for it.
    const next = await dueAt(object)
    expect(next).toBeGreaterThanOrEqual(Date.now() + day - 60_000)
    expect(await alarmAt(object)).toBeLessThanOrEqual(next!)

    // A sweep that is not due yet does nothing when the alarm fires early.
    expect(await runDurableObjectAlarm(object)).toBe(true)
    expect(await dueAt(object)).toBe(next)
    expect((await durableObjectStore(env).getChannel(channelId))?.settled).toBe(settled)
  })

  it('settles and closes a channel idle past CLOSE_IDLE_AFTER_MS: the payee gets what the vouchers cover, the payer the rest', async () => {
    const { channelId, spent, payer, object } = await paidChannel(3)
    const balance = () => rpc().readContract({ address: pathUsd, abi: erc20Abi, functionName: 'balanceOf', args: [payer as Address] })
    const before = await balance()
    await sleep(2_100) // idle past CLOSE_IDLE_AFTER_MS
    await makeDue(object)
    expect(await runDurableObjectAlarm(object)).toBe(true)

    const onChain = await rpc().readContract({
      address: inject('escrowAddress') as Address,
      abi: escrowAbi,
      functionName: 'getChannel',
      args: [channelId],
    })
    expect(onChain.finalized).toBe(true)
    const state = await durableObjectStore(env).getChannel(channelId)
    expect(state).toMatchObject({ finalized: true, spent })
    const captured = (spent / bucket) * bucket
    expect(state!.settled).toBe(captured)
    expect((await balance()) - before).toBe(deposit - captured)
    // Closed: nothing left to sweep.
    expect(await dueAt(object)).toBeUndefined()
  })
})
