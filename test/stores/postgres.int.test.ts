import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { acceptVoucher, assertInvariant, reservedOf } from '../../src/session/channel.js'
import { postgresStore, type SqlSessionStore } from '../../src/stores/postgres.js'
import { type PostgresServer, startPostgres } from '../harness/postgres.js'
import { runTsx } from '../support/processes.js'
import { describeSqlStoreExtras, describeSqlStoreInstances } from '../support/sql-store-extras.js'
import { describeStoreConformance, freshChannelId, newChannel } from './conformance.js'
import { describeCursorConformance } from './cursor-conformance.js'

const workerScript = fileURLToPath(new URL('../support/channel-worker.ts', import.meta.url))

let server: PostgresServer
let store: SqlSessionStore
let peer: SqlSessionStore
beforeAll(async () => {
  server = await startPostgres()
  store = postgresStore({ connectionString: server.connectionString })
  peer = postgresStore({ connectionString: server.connectionString })
  await Promise.all([store.ready(), peer.ready()])
})
afterAll(async () => {
  await Promise.all([store?.close(), peer?.close()])
  await server?.stop()
})

describeStoreConformance('PostgreSQL', () => store)
describeSqlStoreExtras('PostgreSQL', () => store)
describeSqlStoreInstances('PostgreSQL', () => [store, peer])
describeCursorConformance('PostgreSQL', () => [store, peer])

describe('PostgreSQL across processes', () => {
  it('migrates once when four stores start at once on an empty database', async () => {
    const connectionString = await server.createDatabase('mpp_migrate_race')
    const stores = Array.from({ length: 4 }, () => postgresStore({ connectionString }))
    try {
      await Promise.all(stores.map((s) => s.ready()))
      const client = new pg.Client({ connectionString })
      await client.connect()
      try {
        const { rows } = await client.query<{ version: number }>('SELECT version FROM mpp_schema_migrations ORDER BY version')
        expect(rows.map((row) => row.version)).toEqual([1, 2, 3])
      } finally {
        await client.end()
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()))
    }
  })

  it('serialises reserve/commit on one channel from 4 processes: the invariant holds, spent is the sum of commits', async () => {
    const channelId = freshChannelId()
    const accepted = 4_000n
    const initial = acceptVoucher(newChannel(channelId, 20_000n), { amount: accepted, signature: `0x${'22'.repeat(64)}1b` }, { now: 0 })
    await store.updateChannel(channelId, () => ({ state: initial, result: undefined }))
    // 4 processes × 4 loops × 60 reservations of 1..40, ~80% committed at about half: about twice what was accepted, so the last ones are refused.
    // They start together: each waits on an advisory lock this test holds until all four wait.
    const barrier = 0x6d70705f6261
    const gate = new pg.Client({ connectionString: server.connectionString })
    await gate.connect()
    let outputs: string[]
    try {
      await gate.query('SELECT pg_advisory_lock($1)', [barrier])
      const running = Promise.all(
        Array.from({ length: 4 }, () =>
          runTsx(workerScript, [
            JSON.stringify({ connectionString: server.connectionString, channelId, iterations: 60, concurrency: 4, barrier }),
          ]),
        ),
      )
      running.catch(() => {}) // awaited below
      const waiting = async () =>
        (await gate.query<{ n: string }>("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).rows[0]!.n
      for (;;) {
        const count = await Promise.race([waiting(), running.then(() => 'finished')])
        if (count === '4') break
        if (count === 'finished') throw new Error('the workers finished without waiting at the barrier')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await gate.query('SELECT pg_advisory_unlock($1)', [barrier])
      outputs = await running
    } finally {
      await gate.end()
    }
    const results = outputs.map((line) => JSON.parse(line) as { committed: string; commits: number; releases: number; refused: number })
    const state = (await store.getChannel(channelId))!
    expect(() => assertInvariant(state)).not.toThrow()
    expect(state.spent + reservedOf(state)).toBeLessThanOrEqual(state.acceptedCumulative)
    expect(state.acceptedCumulative).toBe(accepted)
    expect(reservedOf(state)).toBe(0n)
    expect(state.spent).toBe(results.reduce((sum, result) => sum + BigInt(result.committed), 0n))
    const commits = results.reduce((sum, result) => sum + result.commits, 0)
    const refused = results.reduce((sum, result) => sum + result.refused, 0)
    expect(commits).toBeGreaterThan(200)
    expect(refused).toBeGreaterThan(0)
    // Each write bumps the version once; concurrent updates from one process may share a write (coalesced), never exceed one each.
    const client = new pg.Client({ connectionString: server.connectionString })
    await client.connect()
    try {
      const { rows } = await client.query<{ version: string }>('SELECT version FROM mpp_channels WHERE id = $1', [channelId])
      const releases = results.reduce((sum, result) => sum + result.releases, 0)
      const version = BigInt(rows[0]!.version)
      expect(version).toBeGreaterThan(1n)
      expect(version <= BigInt(1 + 2 * (commits + releases))).toBe(true)
    } finally {
      await client.end()
    }
  }, 60_000)
})
