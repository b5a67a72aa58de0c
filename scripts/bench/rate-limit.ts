// `npm run bench:rate-limit`: what one rate-limit take costs on each store
// (memory, PGlite, a PostgreSQL the bench starts or DATABASE_URL), and through
// the engine's per-process front once a window is full.
//
//   npm run bench:rate-limit              9 batches of about 300 ms per row
//   npm run bench:rate-limit -- --quick   3 short batches (a smoke run)
//
// Rows, sequential (one take in flight, so µs per take is a round trip):
// - admitted: a fresh key each take (a new window: an insert);
// - refused: one full window (the store's answer; PostgreSQL still writes the row);
// - front: the same full window through the engine's front (no store call);
// and takes per second with 16 in flight on one hot key, its window open or full.
import { rateLimiter } from '../../src/session/rate-limit.js'
import { memoryStore } from '../../src/stores/memory.js'
import { pgliteStore, postgresStore } from '../../src/stores/postgres.js'
import type { SessionStore } from '../../src/stores/store.js'
import { formatRate, measure } from './harness.js'
import { startPostgres } from './postgres-server.js'

const quick = process.argv.includes('--quick')
const options = quick ? { batches: 3, batchMs: 150, warmupMs: 200 } : { batches: 9, batchMs: 300, warmupMs: 500 }
const log = (line: string) => process.stderr.write(`${line}\n`)

async function bench(name: string, store: SessionStore) {
  const run = crypto.randomUUID()
  let fresh = 0
  const full = `bench:${run}:full`
  await store.takeRateLimit(full, 1, 3_600_000)
  const front = rateLimiter(store, Date.now)
  await front(full, 1, 3_600_000)
  const rows = {
    admitted: await measure({ run: () => store.takeRateLimit(`bench:${run}:${fresh++}`, 10, 60_000) }, options),
    refused: await measure({ run: () => store.takeRateLimit(full, 1, 3_600_000) }, options),
    front: await measure({ run: () => front(full, 1, 3_600_000) }, options),
  }
  for (const [row, rate] of Object.entries(rows)) {
    const spread = `${formatRate(rate.min)}–${formatRate(rate.max)}`
    log(
      `${name.padEnd(10)} ${row.padEnd(9)} ${rate.microseconds.toFixed(1).padStart(8)} µs/take  (${formatRate(rate.perSecond)}/s, batches ${spread})`,
    )
  }
  // 16 takes in flight on one key: all admitted (they queue on its row), or all refused (a full window, read only).
  for (const [row, key, limit] of [
    ['hot, open', `bench:${run}:hot`, 1_000_000_000],
    ['hot, full', full, 1],
  ] as const) {
    const started = performance.now()
    let taken = 0
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (performance.now() - started < (quick ? 500 : 2_000)) {
          await store.takeRateLimit(key, limit, 3_600_000)
          taken++
        }
      }),
    )
    log(`${name.padEnd(10)} ${row.padEnd(9)} ${formatRate((taken * 1000) / (performance.now() - started))}/s with 16 takes in flight`)
  }
}

await bench('memory', memoryStore())
const pglite = pgliteStore()
await pglite.ready()
await bench('pglite', pglite)
await pglite.close()
const postgres = await startPostgres()
if ('unavailable' in postgres) log(`postgresql ${postgres.unavailable}`)
else {
  const store = postgresStore({ connectionString: postgres.connectionString })
  try {
    await store.ready()
    await bench('postgresql', store)
  } finally {
    await store.close()
    await postgres.stop()
  }
}
