// The SQL store: one SessionStore over PostgreSQL, run unchanged on `pg` (a
// connection pool to a real server, shared by many gateway instances) and on
// PGlite (PostgreSQL in WASM, in this process, file-backed: the embedded
// default). Both drivers are loaded on first use, so importing this module
// costs nothing where neither is wanted (e.g. inside workerd).
import type { PGlite } from '@electric-sql/pglite'
import type { Pool, PoolConfig } from 'pg'
import type { Hex } from 'viem'
import type { ChannelState } from '../session/channel.js'
import { decodeChannel, type EncodedChannel, encodeChannel } from './codec.js'
import type { ChannelUpdate, IdempotencyRecord, SessionStore, StoredResponse } from './port.js'

/** The little SQL the store needs; one implementation per driver. */
export interface SqlClient {
  query<R extends object>(text: string, params?: readonly unknown[]): Promise<R[]>
  /**
   * Runs `work` in one READ COMMITTED transaction on one connection: commits
   * when it resolves; rolls back and rethrows the very same error when it rejects.
   */
  transaction<T>(work: (tx: Pick<SqlClient, 'query'>) => Promise<T>): Promise<T>
  /** Ends what the store opened itself (a pool from a connection string, a PGlite it started). */
  close(): Promise<void>
}

/** A SessionStore on SQL, plus its lifecycle. */
export type SqlSessionStore = SessionStore & {
  /** Resolves once connected and migrated (every call waits for it anyway); rejects on failure, and the next call retries. */
  ready(): Promise<void>
  /** Deletes expired challenges and idempotency records now (also done about once per `sweepIntervalMs`). */
  sweep(): Promise<void>
  /** Closes the pool or the PGlite the store opened itself (a pool or database passed in stays open); later calls reject. */
  close(): Promise<void>
}

export type SqlStoreOptions = {
  /** Clock in ms for expiries. Default `Date.now`. */
  now?: () => number
  /** Expired challenges and idempotency records are deleted at most this often, by whichever call comes next (ms). Default 60,000. */
  sweepIntervalMs?: number
}

export type PostgresStoreOptions = SqlStoreOptions &
  (
    | {
        /** A pool you own (e.g. shared with the rest of the app); the store never ends it. */
        pool: Pool
      }
    | {
        /** `postgres://user:password@host:5432/database`; the store opens and owns a pool. */
        connectionString: string
        /** Extra settings of that pool (size, TLS, …). */
        poolConfig?: Omit<PoolConfig, 'connectionString'>
      }
  )

export type PgliteStoreOptions = SqlStoreOptions &
  (
    | {
        /**
         * Directory of the database files, created when missing; none: in memory,
         * lost on close. One process at a time: PGlite is a single-connection
         * database, so several gateway instances need `postgresStore`.
         */
        dataDir?: string
      }
    | {
        /** A PGlite you opened; the store never closes it. */
        db: PGlite
      }
  )

/** The store on a PostgreSQL server through `pg`: the one for several gateway instances. */
export function postgresStore(options: PostgresStoreOptions): SqlSessionStore {
  return sqlStore(async () => {
    if ('pool' in options) return pgClient(options.pool, false)
    const { default: pg } = await import('pg')
    const pool = new pg.Pool({
      max: 10,
      keepAlive: true,
      // A process frozen inside a transaction frees its row locks after this; ours never idle there.
      idle_in_transaction_session_timeout: 30_000,
      application_name: 'mpp-session-gateway',
      ...options.poolConfig,
      connectionString: options.connectionString,
    })
    // An idle connection dropped by the server must not crash the process; the next query reconnects.
    pool.on('error', () => {})
    return pgClient(pool, true)
  }, options)
}

/** The store on PGlite in this process: file-backed when `dataDir` is given, else in memory. */
export function pgliteStore(options: PgliteStoreOptions = {}): SqlSessionStore {
  return sqlStore(async () => {
    if ('db' in options) return pgliteClient(options.db, false)
    const { PGlite } = await import('@electric-sql/pglite')
    if (options.dataDir !== undefined) {
      const { mkdir } = await import('node:fs/promises')
      await mkdir(options.dataDir, { recursive: true })
    }
    const db = new PGlite(options.dataDir)
    await db.waitReady
    return pgliteClient(db, true)
  }, options)
}

function pgClient(pool: Pool, owned: boolean): SqlClient {
  return {
    async query<R extends object>(text: string, params: readonly unknown[] = []) {
      return (await pool.query(text, params as unknown[])).rows as R[]
    },
    async transaction(work) {
      const connection = await pool.connect()
      let broken: Error | undefined
      try {
        await connection.query('BEGIN ISOLATION LEVEL READ COMMITTED')
        const result = await work({ query: async <R extends object>(text: string, params: readonly unknown[] = []) => (await connection.query(text, params as unknown[])).rows as R[] })
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
    async close() {
      if (owned) await pool.end()
    },
  }
}

function pgliteClient(db: PGlite, owned: boolean): SqlClient {
  return {
    async query<R extends object>(text: string, params: readonly unknown[] = []) {
      return (await db.query<R>(text, params as unknown[])).rows
    },
    // PGlite is one connection: a transaction holds it exclusively, and on a throw it rolls back and rethrows the same error.
    transaction: (work) => db.transaction((tx) => work({ query: async <R extends object>(text: string, params: readonly unknown[] = []) => (await tx.query<R>(text, params as unknown[])).rows })),
    async close() {
      if (owned) await db.close()
    },
  }
}

// Taken by every starting store for the whole migration: four processes booting
// at once on an empty database apply each migration exactly once.
const migrationLock = 0x6d70705f73657373n // "mpp_sess"

/** Schema versions, applied in order, each once; never edit one that shipped, append. */
const migrations: readonly string[] = [
  `CREATE TABLE mpp_channels (
     id text PRIMARY KEY,
     state jsonb NOT NULL,
     version bigint NOT NULL,
     updated_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE TABLE mpp_consumed_challenges (
     id text PRIMARY KEY,
     expires_at bigint NOT NULL
   );
   CREATE INDEX mpp_consumed_challenges_expires_at ON mpp_consumed_challenges (expires_at);
   CREATE TABLE mpp_idempotency_records (
     key text PRIMARY KEY,
     state text NOT NULL CHECK (state IN ('pending', 'done')),
     response jsonb,
     expires_at bigint NOT NULL
   );
   CREATE INDEX mpp_idempotency_records_expires_at ON mpp_idempotency_records (expires_at);`,
]

async function migrate(sql: SqlClient) {
  await sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [migrationLock.toString()])
    await tx.query('CREATE TABLE IF NOT EXISTS mpp_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())')
    const rows = await tx.query<{ version: number }>('SELECT coalesce(max(version), 0)::integer AS version FROM mpp_schema_migrations')
    const current = Number(rows[0]?.version ?? 0)
    if (current > migrations.length) throw new Error(`the database schema is version ${current}, newer than this gateway knows (${migrations.length}); upgrade the gateway`)
    for (let version = current + 1; version <= migrations.length; version++) {
      for (const statement of migrations[version - 1]!.split(';').map((s) => s.trim()).filter(Boolean)) await tx.query(statement)
      await tx.query('INSERT INTO mpp_schema_migrations (version) VALUES ($1)', [version])
    }
  })
}

// jsonb cannot hold U+0000; such a body (rare: JSON escapes it) is kept base64-encoded.
type EncodedResponse = { status: number; headers: Record<string, string>; body: string } | { status: number; headers: Record<string, string>; body64: string }
const encodeResponse = ({ status, headers, body }: StoredResponse): EncodedResponse =>
  body.includes('\u0000') ? { status, headers, body64: Buffer.from(body, 'utf8').toString('base64') } : { status, headers, body }
const decodeResponse = (encoded: EncodedResponse): StoredResponse => ({
  status: encoded.status,
  headers: encoded.headers,
  body: 'body64' in encoded ? Buffer.from(encoded.body64, 'base64').toString('utf8') : encoded.body,
})
const recordOf = (row: { state: string; response: EncodedResponse | null }): IdempotencyRecord =>
  row.state === 'done' && row.response !== null ? { state: 'done', response: decodeResponse(row.response) } : { state: 'pending' }

// An insert that lost a race to another process's insert of the same channel retries on the row it found; this bounds that.
const maxInsertRaces = 3

/** The store proper, on any SqlClient. */
function sqlStore(open: () => Promise<SqlClient>, options: SqlStoreOptions): SqlSessionStore {
  const now = options.now ?? Date.now
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000
  let opening: Promise<SqlClient> | undefined
  let closed = false
  let lastSweep = Number.NEGATIVE_INFINITY
  const sweeps = new Set<Promise<void>>()

  // Connects and migrates once; a failure is not remembered, so the next call tries again.
  function client(): Promise<SqlClient> {
    if (closed) return Promise.reject(new Error('the session store is closed'))
    if (opening === undefined) {
      const attempt = (async () => {
        const sql = await open()
        try {
          await migrate(sql)
        } catch (error) {
          await sql.close().catch(() => {})
          throw error
        }
        return sql
      })()
      opening = attempt
      attempt.catch(() => {
        if (opening === attempt) opening = undefined
      })
    }
    return opening
  }

  async function sweepNow() {
    const sql = await client()
    const time = now()
    // SKIP LOCKED: sweepers of several instances never wait on (or deadlock with) each other.
    await sql.query('DELETE FROM mpp_consumed_challenges WHERE id IN (SELECT id FROM mpp_consumed_challenges WHERE expires_at <= $1 LIMIT 10000 FOR UPDATE SKIP LOCKED)', [time])
    await sql.query('DELETE FROM mpp_idempotency_records WHERE key IN (SELECT key FROM mpp_idempotency_records WHERE expires_at <= $1 LIMIT 10000 FOR UPDATE SKIP LOCKED)', [time])
  }

  /** Opportunistic: at most once per interval, in the background, errors ignored (the next one retries). */
  function maybeSweep() {
    if (now() - lastSweep < sweepIntervalMs) return
    lastSweep = now()
    const running = sweepNow().catch(() => {})
    sweeps.add(running)
    void running.finally(() => sweeps.delete(running))
  }

  async function writeRecord(sql: Pick<SqlClient, 'query'>, key: string, response: StoredResponse, expiresAt: number) {
    await sql.query(
      `INSERT INTO mpp_idempotency_records (key, state, response, expires_at) VALUES ($1, 'done', $2::jsonb, $3)
       ON CONFLICT (key) DO UPDATE SET state = 'done', response = EXCLUDED.response, expires_at = EXCLUDED.expires_at`,
      [key, JSON.stringify(encodeResponse(response)), expiresAt],
    )
  }

  /**
   * Updates of one channel from this process are coalesced: while a transaction
   * for the channel runs, new updates queue, and the next transaction applies
   * them all in order under one row lock and one commit. Across processes the
   * row lock serialises as before. Each update still sees the state the previous
   * one produced; one that throws is skipped (nothing of it is written) and gets
   * its own error; a failed transaction fails every update in it.
   */
  type Waiting = { update: (state: ChannelState | undefined) => ChannelUpdate<unknown>; resolve: (value: unknown) => void; reject: (error: unknown) => void }
  const queues = new Map<Hex, Waiting[]>()

  async function drain(channelId: Hex) {
    for (;;) {
      const batch = queues.get(channelId)!
      queues.set(channelId, [])
      try {
        const outcomes = await applyBatch(channelId, batch)
        outcomes.forEach((outcome, i) => (outcome.ok ? batch[i]!.resolve(outcome.value) : batch[i]!.reject(outcome.error)))
      } catch (error) {
        for (const waiting of batch) waiting.reject(error)
      }
      if (queues.get(channelId)!.length === 0) {
        queues.delete(channelId)
        return
      }
    }
  }

  async function applyBatch(channelId: Hex, batch: Waiting[]) {
    const sql = await client()
    return sql.transaction(async (tx) => {
      for (let attempt = 1; ; attempt++) {
        const rows = await tx.query<{ state: EncodedChannel }>('SELECT state FROM mpp_channels WHERE id = $1 FOR UPDATE', [channelId])
        const initial = rows[0] === undefined ? undefined : decodeChannel(rows[0].state)
        let current = initial
        const records: NonNullable<ChannelUpdate<unknown>['completeRequest']>[] = []
        const outcomes = batch.map((waiting): { ok: true; value: unknown } | { ok: false; error: unknown } => {
          try {
            const next = waiting.update(current)
            if (next.state !== undefined) current = next.state
            if (next.completeRequest !== undefined) records.push(next.completeRequest)
            return { ok: true, value: next.result }
          } catch (error) {
            return { ok: false, error }
          }
        })
        if (current !== initial && current !== undefined) {
          const encoded = JSON.stringify(encodeChannel(current))
          if (initial !== undefined) {
            await tx.query('UPDATE mpp_channels SET state = $2::jsonb, version = version + 1, updated_at = now() WHERE id = $1', [channelId, encoded])
          } else {
            const inserted = await tx.query('INSERT INTO mpp_channels (id, state, version) VALUES ($1, $2::jsonb, 1) ON CONFLICT (id) DO NOTHING RETURNING id', [channelId, encoded])
            if (inserted.length === 0) {
              if (attempt >= maxInsertRaces) throw new Error(`channel ${channelId}: lost ${attempt} insert races in a row`)
              continue
            }
          }
        }
        // Paid responses for Idempotency-Key retries, in the same transaction as their charges.
        for (const record of records) await writeRecord(tx, record.key, record.response, record.expiresAt)
        return outcomes
      }
    })
  }

  return {
    async getChannel(channelId) {
      const sql = await client()
      const rows = await sql.query<{ state: EncodedChannel }>('SELECT state FROM mpp_channels WHERE id = $1', [channelId])
      return rows[0] === undefined ? undefined : decodeChannel(rows[0].state)
    },

    /*
     * Linearizable per channel through a row lock, not compare-and-set: the
     * transaction reads the row `FOR UPDATE`, so every other updater of that
     * channel, in this process or any other, queues on the lock inside
     * PostgreSQL and then reads the state this one wrote (READ COMMITTED takes
     * a fresh snapshot per statement). Why a lock: many concurrent requests hit
     * the same channel (one payer, many parallel completions, several
     * instances); with compare-and-set every loser of a race pays another read
     * and write and may lose again, while a lock serves the queue in order at
     * one round trip each, and `update` is synchronous so the lock is held for
     * two short statements only. A process that dies mid-transaction frees the
     * lock with its connection. The one race a lock cannot cover, two first
     * inserts of a new channel, ends in `ON CONFLICT DO NOTHING` for the loser
     * (after waiting for the winner to commit), which then locks the winner's
     * row and runs `update` again on it: `update` is pure, only its last result
     * is written.
     */
    updateChannel<T>(channelId: Hex, update: (state: ChannelState | undefined) => ChannelUpdate<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const waiting = { update, resolve: resolve as (value: unknown) => void, reject }
        const queue = queues.get(channelId)
        if (queue !== undefined) {
          queue.push(waiting)
          return
        }
        queues.set(channelId, [waiting])
        void drain(channelId)
      })
    },

    async consumeChallenge(id, expiresAt) {
      const sql = await client()
      maybeSweep()
      const rows = await sql.query('INSERT INTO mpp_consumed_challenges (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id', [id, expiresAt])
      return rows.length === 1
    },

    async claimRequest(key, expiresAt) {
      const sql = await client()
      maybeSweep()
      // Between a refused claim and the read the record may be released or lapse; then claim again.
      for (;;) {
        const time = now()
        const claimed = await sql.query(
          `INSERT INTO mpp_idempotency_records (key, state, response, expires_at) VALUES ($1, 'pending', NULL, $2)
           ON CONFLICT (key) DO UPDATE SET state = 'pending', response = NULL, expires_at = EXCLUDED.expires_at
           WHERE mpp_idempotency_records.expires_at <= $3
           RETURNING key`,
          [key, expiresAt, time],
        )
        if (claimed.length === 1) return undefined
        const rows = await sql.query<{ state: string; response: EncodedResponse | null }>('SELECT state, response FROM mpp_idempotency_records WHERE key = $1 AND expires_at > $2', [key, now()])
        if (rows[0] !== undefined) return recordOf(rows[0])
      }
    },

    async getRequest(key) {
      const sql = await client()
      const rows = await sql.query<{ state: string; response: EncodedResponse | null }>('SELECT state, response FROM mpp_idempotency_records WHERE key = $1 AND expires_at > $2', [key, now()])
      return rows[0] === undefined ? undefined : recordOf(rows[0])
    },

    async completeRequest(key, response, expiresAt) {
      await writeRecord(await client(), key, response, expiresAt)
    },

    async releaseRequest(key) {
      const sql = await client()
      await sql.query('DELETE FROM mpp_idempotency_records WHERE key = $1', [key])
    },

    async ready() {
      await client()
    },

    async sweep() {
      lastSweep = now()
      await sweepNow()
    },

    async close() {
      closed = true
      await Promise.all([...sweeps])
      const pending = opening
      opening = undefined
      if (pending === undefined) return
      const sql = await pending.catch(() => undefined)
      await sql?.close()
    },
  }
}
