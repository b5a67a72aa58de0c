// The PostgreSQL of the store row: `DATABASE_URL` when set (left as it is),
// else a throwaway server from the local binaries with PostgreSQL's durability
// defaults (what an operator runs), stopped and deleted afterwards. Without
// either, the row says "n/a (no PostgreSQL)".
import { startPostgres as startServer } from '../../test/harness/postgres.js'
import { track, untrack } from './processes.js'

export type PostgresServer = { connectionString: string; managed: boolean; stop: () => Promise<void> }

export async function startPostgres(): Promise<PostgresServer | { unavailable: string }> {
  if (process.env.DATABASE_URL) return { connectionString: process.env.DATABASE_URL, managed: false, stop: async () => {} }
  // BENCH_PG_SETTINGS="name=value,…" adds settings, for diagnosis (e.g. synchronous_commit=off).
  const settings = Object.fromEntries(
    (process.env.BENCH_PG_SETTINGS ?? '')
      .split(',')
      .filter(Boolean)
      .map((setting) => setting.trim().split('=') as [string, string]),
  )
  try {
    const server = await startServer({ database: 'bench', durable: true, settings })
    const cleanup = track({ kill: () => void server.stop() })
    return {
      connectionString: server.connectionString,
      managed: true,
      async stop() {
        untrack(cleanup)
        await server.stop()
      },
    }
  } catch (error) {
    return { unavailable: `n/a (no PostgreSQL: ${error instanceof Error ? error.message.split('\n')[0] : String(error)})` }
  }
}
