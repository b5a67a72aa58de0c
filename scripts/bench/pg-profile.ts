// Diagnosis of the PostgreSQL store row (not part of `npm run bench`): reserve+commit pairs on 1 and 1,000
// channels, in alternating rounds on one durable server, with what each round cost: statements per pair and
// channels per grouped statement (client side), the server's CPU per pair (its processes, from /proc), and
// the table's HOT updates. `FILLFACTORS=100,50` compares mpp_channels' fillfactor, one database each, in the
// same rounds; `EXPLAIN=1` prints the plan of one grouped statement of 16 channels.
//   npx tsx scripts/bench/pg-profile.ts
import { readdirSync, readFileSync } from 'node:fs'
import pg from 'pg'
import type { Hex } from 'viem'
import { postgresStore, type SqlSessionStore } from '../../src/stores/postgres.js'
import { startPostgres } from './postgres-server.js'
import { openChannelState, runPairs } from './store.js'

const rounds = Number(process.env.ROUNDS ?? 3)
const roundMs = Number(process.env.ROUND_MS ?? 1_500)
const concurrency = Number(process.env.CONCURRENCY ?? 16)
// Undefined: the table as the migrations leave it.
const fillfactors = (process.env.FILLFACTORS ?? '').split(',').map((value) => (value === '' ? undefined : Number(value)))

const server = await startPostgres()
if ('unavailable' in server) throw new Error(server.unavailable)

type Counted = { n: number; ms: number; rows: number }
const statements = new Map<string, Counted>()
let groupText: string | undefined
type Query = (config: { text: string; values?: unknown[]; name?: string }) => Promise<pg.QueryResult>

/** A pool whose statements are counted by their name (or first words), with their time and the channels of a grouped one. */
function countingPool(connectionString: string) {
  const pool = new pg.Pool({ connectionString, max: 10 })
  const query = pool.query.bind(pool) as Query
  ;(pool as unknown as { query: Query }).query = async (config) => {
    const started = performance.now()
    const result = await query(config)
    if (config.name === 'mpp_cas_group') groupText = config.text
    const label = config.name ?? config.text.trim().split(/\s+/).slice(0, 3).join(' ')
    const entry = statements.get(label) ?? { n: 0, ms: 0, rows: 0 }
    entry.n++
    entry.ms += performance.now() - started
    entry.rows += config.name?.startsWith('mpp_cas_group') ? JSON.parse(String(config.values?.[0])).length : 1
    statements.set(label, entry)
    return result
  }
  return pool
}

type Variant = { label: string; pool: pg.Pool; store: SqlSessionStore; sets: Record<number, Hex[]> }
const admin = new pg.Pool({ connectionString: server.connectionString, max: 1 })
const variants: Variant[] = []
for (const [i, fillfactor] of fillfactors.entries()) {
  const database = `profile_${i}`
  await admin.query(`CREATE DATABASE ${database}`)
  const url = new URL(server.connectionString)
  url.pathname = `/${database}`
  const pool = countingPool(url.toString())
  const store = postgresStore({ pool })
  await store.ready()
  if (fillfactor !== undefined) await pool.query({ text: `ALTER TABLE mpp_channels SET (fillfactor = ${fillfactor})` })
  variants.push({ label: fillfactor === undefined ? 'as migrated' : `fillfactor ${fillfactor}`, pool, store, sets: {} })
}

// The server's CPU: the postmaster and its children (backends, WAL writer, checkpointer, autovacuum), µs.
const fieldsOf = (pid: number | string) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}
const backendPid = Number((await admin.query('SELECT pg_backend_pid() AS pid')).rows[0].pid)
const postmaster = Number(fieldsOf(backendPid)[1])
function serverCpu() {
  let ticks = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const fields = fieldsOf(entry)
      if (Number(entry) === postmaster || Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // The process ended meanwhile.
    }
  }
  return ticks * 10_000
}

const counts = [1, 1_000]
for (const variant of variants) {
  for (const count of counts) {
    const salt = crypto.randomUUID().replaceAll('-', '').slice(0, 16)
    const ids: Hex[] = []
    for (let i = 0; i < count; i++) {
      const state = openChannelState(i, salt)
      await variant.store.updateChannel(state.channelId, () => ({ state, result: undefined }))
      ids.push(state.channelId)
    }
    variant.sets[count] = ids
    await runPairs(variant.store, ids, concurrency, 500)
  }
}

const rates = new Map<string, number[]>()
for (let round = 0; round < rounds; round++) {
  for (const variant of variants) {
    for (const count of counts) {
      const label = `${variant.label}, ${count} ch`
      statements.clear()
      const client = process.cpuUsage()
      const serverBefore = serverCpu()
      const { pairs, perSecond } = await runPairs(variant.store, variant.sets[count]!, concurrency, roundMs)
      const clientUsed = process.cpuUsage(client)
      const serverUsed = serverCpu() - serverBefore
      rates.set(label, [...(rates.get(label) ?? []), perSecond])
      const sent = [...statements.values()].reduce((sum, entry) => sum + entry.n, 0)
      const detail = [...statements]
        .map(([name, s]) => `${name} ${s.n} × ${(s.ms / s.n).toFixed(2)} ms, ${(s.rows / s.n).toFixed(1)} ch`)
        .join('; ')
      console.log(
        `round ${round} ${label}: ${perSecond.toFixed(0)} pairs/s, ${(sent / pairs).toFixed(3)} statements/pair, CPU/pair client ${((clientUsed.user + clientUsed.system) / pairs).toFixed(0)} µs, server ${(serverUsed / pairs).toFixed(0)} µs; ${detail}`,
      )
    }
  }
}
for (const [label, values] of rates) console.log(`${label}: ${values.map((value) => value.toFixed(0)).join(', ')} pairs/s`)
for (const variant of variants) {
  const [row] = (
    await variant.pool.query({
      text: "SELECT n_tup_upd, n_tup_hot_upd, pg_relation_size('mpp_channels') AS bytes FROM pg_stat_user_tables WHERE relname = 'mpp_channels'",
    })
  ).rows
  console.log(`${variant.label}: ${row.n_tup_hot_upd} of ${row.n_tup_upd} updates HOT, table ${row.bytes} bytes`)
}

if (process.env.EXPLAIN && groupText !== undefined) {
  const variant = variants[0]!
  const client = await variant.pool.connect()
  const { rows } = await client.query('SELECT id, state, version FROM mpp_channels WHERE id = ANY($1::text[])', [
    variant.sets[1_000]!.slice(0, 16),
  ])
  const proposed = rows.map((row) => ({ id: row.id, state: row.state, expected: Number(row.version) }))
  // Rolled back: the plan, not the write.
  await client.query('BEGIN')
  const plan = await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${groupText}`, [JSON.stringify(proposed)])
  console.log(plan.rows.map((row) => row['QUERY PLAN']).join('\n'))
  await client.query('ROLLBACK')
  client.release()
}
for (const variant of variants) {
  await variant.store.close()
  await variant.pool.end()
}
await admin.end()
await server.stop()
