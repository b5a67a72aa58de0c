// One process of the cross-process store tests (test/stores/postgres.int.test.ts),
// run with `npx tsx`. Argument: JSON {connectionString, channelIds, instances,
// iterations, concurrency, barrier}. Opens `instances` stores (each its own pool
// and memory, as separate gateway instances would), waits at the barrier (a
// shared advisory lock the test holds exclusively until every process waits on
// it), then runs `concurrency` loops, each through one of the stores in turn:
// per iteration a random channel, an idempotency key claimed, a reservation,
// then a release or a commit that completes the key's record with the amount
// charged. Prints one JSON line: per channel, what it committed, its commits,
// releases and refusals.
import pg from 'pg'
import type { Hex } from 'viem'
import { commit, InsufficientAuthorization, release, reserve } from '../../src/session/channel.js'
import { postgresStore } from '../../src/stores/postgres.js'

const { connectionString, channelIds, instances, iterations, concurrency, barrier } = JSON.parse(process.argv[2] ?? '{}') as {
  connectionString: string
  channelIds: Hex[]
  instances: number
  iterations: number
  concurrency: number
  barrier: number
}
const stores = Array.from({ length: instances }, () => postgresStore({ connectionString, poolConfig: { max: concurrency } }))
await Promise.all(stores.map((store) => store.ready()))
const gate = new pg.Client({ connectionString })
await gate.connect()
await gate.query('SELECT pg_advisory_lock_shared($1)', [barrier])
await gate.end()

const next = () => Math.floor(Math.random() * 2 ** 31)
const far = () => Date.now() + 600_000

type Tally = { committed: bigint; commits: number; releases: number; refused: number }
const tallies = new Map<Hex, Tally>(channelIds.map((id) => [id, { committed: 0n, commits: 0, releases: 0, refused: 0 }]))

async function loop(worker: number) {
  const store = stores[worker % stores.length]!
  for (let i = 0; i < iterations; i++) {
    const channelId = channelIds[next() % channelIds.length]!
    const tally = tallies.get(channelId)!
    const id = `p${process.pid}-w${worker}-i${i}`
    if ((await store.claimRequest(channelId, id, far())) !== undefined) throw new Error(`key ${id} claimed twice`)
    const amount = BigInt(1 + (next() % 40))
    try {
      await store.updateChannel(channelId, (state) => ({
        state: reserve(state!, id, amount, Date.now() + 60_000, Date.now()),
        result: undefined,
      }))
    } catch (error) {
      if (!(error instanceof InsufficientAuthorization)) throw error
      await store.releaseRequest(channelId, id)
      tally.refused++
      continue
    }
    if (next() % 5 === 0) {
      await store.updateChannel(channelId, (state) => ({ state: release(state!, id), result: undefined }))
      await store.releaseRequest(channelId, id)
      tally.releases++
      continue
    }
    const actual = BigInt(next() % Number(amount + 1n))
    // The charge and its response (which says what was charged) in one atomic write.
    const charged = await store.updateChannel(channelId, (state) => {
      const result = commit(state!, id, actual, Date.now())
      const response = { status: 200, headers: {}, body: result.charged.toString() }
      return { state: result.state, result: result.charged, completeRequest: { key: id, response, expiresAt: far() } }
    })
    tally.committed += charged
    tally.commits++
  }
}

await Promise.all(Array.from({ length: concurrency }, (_, worker) => loop(worker)))
await Promise.all(stores.map((store) => store.close()))
const out = Object.fromEntries([...tallies].map(([id, tally]) => [id, { ...tally, committed: tally.committed.toString() }]))
process.stdout.write(`${JSON.stringify(out)}\n`)
