// Row 6: reserve+commit pairs per second through the `SessionStore` interface,
// exactly as the session engine writes them (updateChannel with a pure update,
// the invariant checked on every write). Any adapter plugs in as a StoreUnderTest.
import type { Address, Hex } from 'viem'
import {
  acceptVoucher,
  assertInvariant,
  type ChannelState,
  fromChain as channelFromChain,
  commit,
  reserve,
} from '../../src/session/channel.js'
import { memoryStore } from '../../src/stores/memory.js'
import { pgliteStore, postgresStore } from '../../src/stores/postgres.js'
import type { SessionStore } from '../../src/stores/store.js'
import { collectGarbage, median } from './harness.js'

export type StoreUnderTest = {
  name: string
  /** Why the store is not measured, when it is not. */
  unavailable?: string
  open?: () => Promise<{ store: SessionStore; close: () => Promise<void> }>
}

export type StoreRow = {
  store: string
  channels: number
  concurrency: number
  /** Reserve+commit pairs per second (median of rounds); undefined when unavailable. */
  pairsPerSecond?: number
  min?: number
  max?: number
  unavailable?: string
}

export type StoreBenchOptions = {
  /** Channel counts to measure. Default [1, 1000]. */
  channelCounts?: number[]
  /** Requests in flight at once (each one a reserve, then a commit). Default 16. */
  concurrency?: number
  /** Timed rounds per configuration; the median is reported. Default 3. */
  rounds?: number
  /** Length of one round, ms. Default 1,500. */
  roundMs?: number
  /** Untimed warm-up, ms. Default 500. */
  warmupMs?: number
}

const amount = 1_000n
const deposit = 10n ** 30n

/** A channel as the engine leaves it after an open with a large bucket accepted. */
export function openChannelState(index: number, salt: string): ChannelState {
  const channelId = `0x${salt}${index.toString(16).padStart(64 - salt.length, '0')}` as Hex
  const now = Date.now()
  const state = channelFromChain(
    channelId,
    {
      payer: `0x${(index + 1).toString(16).padStart(40, '0')}` as Address,
      payee: '0x2222222222222222222222222222222222222222',
      token: '0x20c0000000000000000000000000000000000000',
      authorizedSigner: '0x0000000000000000000000000000000000000000',
      deposit,
      settled: 0n,
      closeRequestedAt: 0n,
      finalized: false,
    },
    now,
  )
  const signature = `0x${'ab'.repeat(64)}1b` as Hex
  return acceptVoucher(state, { amount: deposit, signature }, { now })
}

function update(store: SessionStore, channelId: Hex, change: (state: ChannelState) => ChannelState) {
  return store.updateChannel(channelId, (current) => {
    if (current === undefined) throw new Error(`channel ${channelId} is missing`)
    const next = change(current)
    assertInvariant(next)
    return { state: next, result: undefined }
  })
}

/** One paid request's store traffic: hold `amount`, then charge it. */
async function reserveCommit(store: SessionStore, channelId: Hex) {
  const id = crypto.randomUUID()
  const now = Date.now()
  await update(store, channelId, (state) => reserve(state, id, amount, now + 60_000, now))
  await update(store, channelId, (state) => commit(state, id, amount, Date.now()).state)
}

/** The store row's load: `concurrency` workers for `ms`, each a reserve then a commit on the next channel in turn. */
export async function runPairs(store: SessionStore, channelIds: Hex[], concurrency: number, ms: number) {
  let pairs = 0
  let turn = 0
  const started = performance.now()
  const deadline = started + ms
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await reserveCommit(store, channelIds[turn++ % channelIds.length]!)
        pairs++
      }
    }),
  )
  return { pairs, perSecond: (pairs * 1000) / (performance.now() - started) }
}

/** Completed pairs per second, after a garbage collection. */
async function run(store: SessionStore, channelIds: Hex[], concurrency: number, ms: number) {
  collectGarbage()
  return (await runPairs(store, channelIds, concurrency, ms)).perSecond
}

export async function benchStore(subject: StoreUnderTest, options: StoreBenchOptions = {}): Promise<StoreRow[]> {
  const channelCounts = options.channelCounts ?? [1, 1_000]
  const concurrency = options.concurrency ?? 16
  if (subject.open === undefined)
    return channelCounts.map((channels) => ({ store: subject.name, channels, concurrency, unavailable: subject.unavailable ?? 'n/a' }))
  const { store, close } = await subject.open()
  try {
    const rows: StoreRow[] = []
    for (const channels of channelCounts) {
      const salt = crypto.randomUUID().replaceAll('-', '').slice(0, 16)
      const channelIds: Hex[] = []
      for (let i = 0; i < channels; i++) {
        const state = openChannelState(i, salt)
        await store.updateChannel(state.channelId, () => ({ state, result: undefined }))
        channelIds.push(state.channelId)
      }
      await run(store, channelIds, concurrency, options.warmupMs ?? 500)
      const rates: number[] = []
      for (let round = 0; round < (options.rounds ?? 3); round++)
        rates.push(await run(store, channelIds, concurrency, options.roundMs ?? 1_500))
      // Every pair charged exactly `amount` and released its hold.
      const sample = await store.getChannel(channelIds[0]!)
      if (sample === undefined || Object.keys(sample.reservations).length !== 0 || sample.spent % amount !== 0n)
        throw new Error(`${subject.name}: inconsistent channel after the run`)
      rows.push({
        store: subject.name,
        channels,
        concurrency,
        pairsPerSecond: median(rates),
        min: Math.min(...rates),
        max: Math.max(...rates),
      })
    }
    return rows
  } finally {
    await close()
  }
}

export const memorySubject: StoreUnderTest = {
  name: 'memory',
  open: async () => ({ store: memoryStore(), close: async () => {} }),
}

/** The PGlite store (in process, in memory) as a subject. */
export const pgliteSubject: StoreUnderTest = {
  name: 'pglite',
  open: async () => {
    const store = pgliteStore()
    return { store, close: () => store.close() }
  },
}

/** The PostgreSQL store on a running server as a subject. */
export function postgresSubject(connectionString: string): StoreUnderTest {
  return {
    name: 'postgresql',
    open: async () => {
      const store = postgresStore({ connectionString })
      return { store, close: () => store.close() }
    },
  }
}
