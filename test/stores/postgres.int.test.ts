import { fileURLToPath } from 'node:url'
import pg from 'pg'
import type { Hex } from 'viem'
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
        expect(rows.map((row) => row.version)).toEqual([1, 2, 3, 4])
        // Room on each page for a channel's next version (a HOT update), as migration 4 sets.
        const table = await client.query<{ reloptions: string[] }>("SELECT reloptions FROM pg_class WHERE relname = 'mpp_channels'")
        expect(table.rows[0]?.reloptions).toEqual(['fillfactor=50'])
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
    await openChannel(channelId, accepted)
    // 4 processes × 4 loops × 60 reservations of 1..40, ~80% committed at about half: about twice what was accepted, so the last ones are refused.
    const tallies = await runWorkers(4, { channelIds: [channelId], instances: 1, iterations: 60, concurrency: 4 })
    const { commits, refused } = await expectConsistent(channelId, accepted, tallies)
    expect(commits).toBeGreaterThan(200)
    expect(refused).toBeGreaterThan(0)
  }, 60_000)

  it('soak: 6 instances in 3 processes on 40 channels at once lose no update and apply none twice, each charge with its response', async () => {
    const channelIds = Array.from({ length: 40 }, () => freshChannelId())
    const accepted = 600n
    for (const channelId of channelIds) await openChannel(channelId, accepted)
    // 3 processes × 2 stores × 8 loops × 120 iterations on random channels: ~70 per channel, reservations of 1..40 against 600 accepted, so some are refused.
    const tallies = await runWorkers(3, { channelIds, instances: 2, iterations: 120, concurrency: 8 })
    let commits = 0
    let refused = 0
    for (const channelId of channelIds) {
      const channel = await expectConsistent(channelId, accepted, tallies)
      commits += channel.commits
      refused += channel.refused
    }
    expect(commits).toBeGreaterThan(1_000)
    expect(refused).toBeGreaterThan(0)
  }, 180_000)
})

type Tally = { committed: string; commits: number; releases: number; refused: number }

async function openChannel(channelId: Hex, accepted: bigint) {
  const initial = acceptVoucher(newChannel(channelId, 20_000n), { amount: accepted, signature: `0x${'22'.repeat(64)}1b` }, { now: 0 })
  await store.updateChannel(channelId, () => ({ state: initial, result: undefined }))
}

/**
 * Runs `processes` channel workers on the test database, started together: each
 * waits on an advisory lock this test holds until all of them wait. Resolves
 * with each process's tallies per channel.
 */
async function runWorkers(
  processes: number,
  work: { channelIds: Hex[]; instances: number; iterations: number; concurrency: number },
): Promise<Record<Hex, Tally>[]> {
  const barrier = 0x6d70705f6261
  const gate = new pg.Client({ connectionString: server.connectionString })
  await gate.connect()
  try {
    await gate.query('SELECT pg_advisory_lock($1)', [barrier])
    const running = Promise.all(
      Array.from({ length: processes }, () =>
        runTsx(workerScript, [JSON.stringify({ connectionString: server.connectionString, barrier, ...work })], { timeoutMs: 170_000 }),
      ),
    )
    running.catch(() => {}) // awaited below
    const waiting = async () =>
      (await gate.query<{ n: string }>("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).rows[0]!.n
    for (;;) {
      const count = await Promise.race([waiting(), running.then(() => 'finished')])
      if (count === String(processes)) break
      if (count === 'finished') throw new Error('the workers finished without waiting at the barrier')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await gate.query('SELECT pg_advisory_unlock($1)', [barrier])
    return (await running).map((line) => JSON.parse(line) as Record<Hex, Tally>)
  } finally {
    await gate.end()
  }
}

/**
 * The channel as the workers left it: the invariant holds, nothing reserved,
 * spent is exactly what the workers were told they committed (no commit lost,
 * none applied twice), every commit's response stored with the amount it
 * charged and no other record left, and no more row versions than writes.
 */
async function expectConsistent(channelId: Hex, accepted: bigint, tallies: Record<Hex, Tally>[]) {
  const mine = tallies.map((tally) => tally[channelId]!)
  const commits = mine.reduce((sum, tally) => sum + tally.commits, 0)
  const releases = mine.reduce((sum, tally) => sum + tally.releases, 0)
  const refused = mine.reduce((sum, tally) => sum + tally.refused, 0)
  const state = (await store.getChannel(channelId))!
  expect(() => assertInvariant(state)).not.toThrow()
  expect(state.acceptedCumulative).toBe(accepted)
  expect(reservedOf(state)).toBe(0n)
  expect(state.spent).toBe(mine.reduce((sum, tally) => sum + BigInt(tally.committed), 0n))
  const client = new pg.Client({ connectionString: server.connectionString })
  await client.connect()
  try {
    const records = await client.query<{ state: string; response: { body: string } | null }>(
      'SELECT state, response FROM mpp_idempotency_records WHERE key LIKE $1',
      [`${channelId}|%`],
    )
    expect(records.rows.every((row) => row.state === 'done')).toBe(true)
    expect(records.rows).toHaveLength(commits)
    expect(records.rows.reduce((sum, row) => sum + BigInt(row.response!.body), 0n)).toBe(state.spent)
    // Each write bumps the version once; concurrent updates from one process may share a write (coalesced), never exceed one each.
    const { rows } = await client.query<{ version: string }>('SELECT version FROM mpp_channels WHERE id = $1', [channelId])
    const version = BigInt(rows[0]!.version)
    expect(version).toBeGreaterThan(1n)
    expect(version <= BigInt(1 + 2 * (commits + releases))).toBe(true)
  } finally {
    await client.end()
  }
  return { commits, refused }
}
