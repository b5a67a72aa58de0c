// The little SQL the store needs, on each driver: `pg` (a pool to a real
// server) and PGlite (PostgreSQL in WASM, in this process).
import type { PGlite } from '@electric-sql/pglite'
import type { Pool } from 'pg'

/** The little SQL the store needs; one implementation per driver. */
export interface SqlClient {
  /** `name`: a statement run often, prepared once per connection and its plan reused (pg); PGlite plans each time. */
  query<R extends object>(text: string, params?: readonly unknown[], name?: string): Promise<R[]>
  /**
   * Runs `work` in one READ COMMITTED transaction on one connection: commits
   * when it resolves; rolls back and rethrows the very same error when it rejects.
   */
  transaction<T>(work: (tx: Pick<SqlClient, 'query'>) => Promise<T>): Promise<T>
  /** Runs `work` on one connection held for it (no transaction): what session-level advisory locks need. */
  session<T>(work: (connection: Pick<SqlClient, 'query'>) => Promise<T>): Promise<T>
  /** Ends what the store opened itself (a pool from a connection string, a PGlite it started). */
  close(): Promise<void>
}

export function pgClient(pool: Pool, owned: boolean): SqlClient {
  return {
    async query<R extends object>(text: string, params: readonly unknown[] = [], name?: string) {
      return (await pool.query({ text, values: params as unknown[], ...(name === undefined ? {} : { name }) })).rows as R[]
    },
    async transaction(work) {
      const connection = await pool.connect()
      let broken: Error | undefined
      try {
        await connection.query('BEGIN ISOLATION LEVEL READ COMMITTED')
        const result = await work({
          query: async <R extends object>(text: string, params: readonly unknown[] = []) =>
            (await connection.query(text, params as unknown[])).rows as R[],
        })
        await connection.query('COMMIT')
        return result
      } catch (error) {
        try {
          await connection.query('ROLLBACK')
        } catch (rollbackError) {
          // The connection is unusable: drop it from the pool instead of reusing it.
          broken = rollbackError instanceof Error ? rollbackError : new Error('rollback failed')
        }
        throw error
      } finally {
        connection.release(broken)
      }
    },
    async session(work) {
      const connection = await pool.connect()
      let broken: Error | undefined
      try {
        return await work({
          query: async <R extends object>(text: string, params: readonly unknown[] = []) =>
            (await connection.query(text, params as unknown[])).rows as R[],
        })
      } catch (error) {
        // A failed statement may leave the session's locks in doubt: drop the connection rather than reuse it.
        broken = error instanceof Error ? error : new Error('session failed')
        throw error
      } finally {
        connection.release(broken)
      }
    },
    async close() {
      if (owned) await pool.end()
    },
  }
}

export function pgliteClient(db: PGlite, owned: boolean): SqlClient {
  return {
    async query<R extends object>(text: string, params: readonly unknown[] = []) {
      return (await db.query<R>(text, params as unknown[])).rows
    },
    // PGlite is one connection: a transaction holds it exclusively, and on a throw it rolls back and rethrows the same error.
    transaction: (work) =>
      db.transaction((tx) =>
        work({
          query: async <R extends object>(text: string, params: readonly unknown[] = []) =>
            (await tx.query<R>(text, params as unknown[])).rows,
        }),
      ),
    // PGlite is one connection, always the same session.
    session(work) {
      return work({
        query: async <R extends object>(text: string, params: readonly unknown[] = []) =>
          (await db.query<R>(text, params as unknown[])).rows,
      })
    },
    async close() {
      if (owned) await db.close()
    },
  }
}
