// One process of the cross-process linearizability test (test/store/postgres.test.ts),
// run with `npx tsx`. Argument: JSON {connectionString, channelId, iterations, concurrency, barrier}.
// Connects, waits at the barrier (a shared advisory lock the test holds
// exclusively until every process waits on it), then reserves and commits on
// one channel in the shared database, `concurrency` loops at a time, and prints
// one JSON line: what it committed and what was refused.
import pg from 'pg'
import { commit, InsufficientAuthorization, release, reserve } from '../../src/session/channel.js'
import { postgresStore } from '../../src/stores/postgres.js'

const { connectionString, channelId, iterations, concurrency, barrier } = JSON.parse(process.argv[2] ?? '{}') as {
  connectionString: string
  channelId: `0x${string}`
  iterations: number
  concurrency: number
  barrier: number
}
const store = postgresStore({ connectionString, poolConfig: { max: concurrency } })
await store.ready()
const gate = new pg.Client({ connectionString })
await gate.connect()
await gate.query('SELECT pg_advisory_lock_shared($1)', [barrier])
await gate.end()

const next = () => Math.floor(Math.random() * 2 ** 31)

let committed = 0n
let commits = 0
let releases = 0
let refused = 0
async function loop(worker: number) {
  for (let i = 0; i < iterations; i++) {
    const id = `p${process.pid}-w${worker}-i${i}`
    const amount = BigInt(1 + (next() % 40))
    try {
      await store.updateChannel(channelId, (state) => ({
        state: reserve(state!, id, amount, Date.now() + 60_000, Date.now()),
        result: undefined,
      }))
    } catch (error) {
      if (!(error instanceof InsufficientAuthorization)) throw error
      refused++
      continue
    }
    if (next() % 5 === 0) {
      await store.updateChannel(channelId, (state) => ({ state: release(state!, id), result: undefined }))
      releases++
      continue
    }
    const actual = BigInt(next() % Number(amount + 1n))
    const charged = await store.updateChannel(channelId, (state) => {
      const result = commit(state!, id, actual, Date.now())
      return { state: result.state, result: result.charged }
    })
    committed += charged
    commits++
  }
}

await Promise.all(Array.from({ length: concurrency }, (_, worker) => loop(worker)))
await store.close()
process.stdout.write(`${JSON.stringify({ committed: committed.toString(), commits, releases, refused })}\n`)
