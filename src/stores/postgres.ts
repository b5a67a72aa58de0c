// The SQL store: one SessionStore over PostgreSQL, run unchanged on `pg` (a
// connection pool to a real server, shared by many gateway instances) and on
// PGlite (PostgreSQL in WASM, in this process, file-backed: the embedded
// default). Both drivers are loaded on first use, so importing this module
// costs nothing where neither is wanted (e.g. inside workerd).
import type { PGlite } from '@electric-sql/pglite'
import type { Pool, PoolConfig } from 'pg'
import type { Hex } from 'viem'
import { z } from 'zod'
import { parseConfig } from '../errors/config-error.js'
import type { ChannelState } from '../session/channel.js'
import type { ChannelLister, ChannelUpdate, CompletedRequest, IdempotencyRecord, StoredResponse } from '../session/store.js'
import type { JobLock } from '../session/sweeper.js'
import { callable, integer } from '../util/config.js'
import { decodeChannel, type EncodedChannel, encodeChannel } from './codec.js'
import { pgClient, pgliteClient, type SqlClient } from './sql/client.js'
import { migrate } from './sql/migrations.js'
import type { SessionStore } from './store.js'

/** A SessionStore on SQL, plus its lifecycle. */
export type SqlSessionStore = SessionStore &
  ChannelLister &
  JobLock & {
    /** Resolves once connected and migrated (every call waits for it anyway); rejects on failure, and the next call retries. */
    ready(): Promise<void>
    /** Deletes expired challenges, idempotency records and rate-limit windows now (also done about once per `sweepIntervalMs`). */
    sweep(): Promise<void>
    /** Closes the pool or the PGlite the store opened itself (a pool or database passed in stays open); later calls reject. */
    close(): Promise<void>
  }

export type SqlStoreOptions = {
  /** Clock in ms for expiries. Default `Date.now`. */
  now?: () => number
  /** Expired challenges, idempotency records and rate-limit windows are deleted at most this often, by whichever call comes next (ms). Default 60,000. */
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

const commonOptions = { now: callable<() => number>().optional(), sweepIntervalMs: integer(1).optional() }
const postgresOptions = z.union(
  [
    z.object({ ...commonOptions, pool: z.object({ query: callable(), connect: callable() }) }),
    z.object({
      ...commonOptions,
      connectionString: z
        .string()
        .refine(
          (value) => /^postgres(ql)?:\/\/[^/]/.test(value) && URL.canParse(value),
          'must be a postgres:// connection URL with a host',
        ),
      poolConfig: z.object({}).loose().optional(),
    }),
  ],
  { error: 'needs a pg Pool (pool) or a postgres:// connection URL (connectionString)' },
)
const pgliteOptions = z.union([
  z.object({ ...commonOptions, dataDir: z.string().min(1, 'must be a directory path').optional() }),
  z.object({ ...commonOptions, db: z.object({ query: callable(), transaction: callable() }, { error: 'must be a PGlite instance' }) }),
])

/** The store on a PostgreSQL server through `pg`: the one for several gateway instances. */
export function postgresStore(options: PostgresStoreOptions): SqlSessionStore {
  parseConfig(postgresOptions, options, 'postgresStore')
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
  parseConfig(pgliteOptions, options, 'pgliteStore')
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

// jsonb cannot hold U+0000; such a body (rare: JSON escapes it) is kept base64-encoded.
type EncodedResponse =
  | { status: number; headers: Record<string, string>; body: string }
  | { status: number; headers: Record<string, string>; body64: string }
const encodeResponse = ({ status, headers, body }: StoredResponse): EncodedResponse =>
  body.includes('\u0000') ? { status, headers, body64: Buffer.from(body, 'utf8').toString('base64') } : { status, headers, body }
const decodeResponse = (encoded: EncodedResponse): StoredResponse => ({
  status: encoded.status,
  headers: encoded.headers,
  body: 'body64' in encoded ? Buffer.from(encoded.body64, 'base64').toString('utf8') : encoded.body,
})
const recordOf = (row: { state: string; response: EncodedResponse | null }): IdempotencyRecord =>
  row.state === 'done' && row.response !== null ? { state: 'done', response: decodeResponse(row.response) } : { state: 'pending' }

// An idempotency record's row key: its channel, then the engine's key within the channel.
const recordKey = (channelId: Hex, key: string) => `${channelId}|${key}`

// The server's clock in ms (fixed for a statement): one clock for the rate-limit windows of every instance.
const serverNow = '(extract(epoch FROM statement_timestamp()) * 1000)::bigint'

// An insert that lost a race to another process's insert of the same channel retries on the row it found; this bounds that.
const maxInsertRaces = 3
// Lost compare-and-set races before a batch takes the row lock instead.
const maxCompareAndSetAttempts = 3
// Channels written in one statement at most, and such statements in flight at once per store (measured on
// PostgreSQL with 1,000 busy channels: a second one in flight did not raise the rate, it split the groups).
const maxChannelsPerWrite = 256
const maxGroupsInFlight = 1
// Channels whose last seen version this process keeps (the least recently written are forgotten first).
const maxKnownChannels = 10_000

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
    await sql.query(
      'DELETE FROM mpp_consumed_challenges WHERE id IN (SELECT id FROM mpp_consumed_challenges WHERE expires_at <= $1 LIMIT 10000 FOR UPDATE SKIP LOCKED)',
      [time],
    )
    await sql.query(
      'DELETE FROM mpp_idempotency_records WHERE key IN (SELECT key FROM mpp_idempotency_records WHERE expires_at <= $1 LIMIT 10000 FOR UPDATE SKIP LOCKED)',
      [time],
    )
    // An ended window counts as absent, so deleting it changes no answer.
    await sql.query(
      `DELETE FROM mpp_rate_limits WHERE key IN (SELECT key FROM mpp_rate_limits WHERE window_end <= ${serverNow} LIMIT 10000 FOR UPDATE SKIP LOCKED)`,
    )
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
   * Updates are coalesced within a channel and across channels: while a write
   * runs, new updates queue per channel, and the next write applies the queued
   * updates of every waiting channel (up to `maxChannelsPerWrite`), each
   * channel's in order, in one statement. A channel is in one write at a time,
   * so each update sees the state the previous one produced; one that throws is
   * skipped (nothing of it is written) and gets its own error; a failed
   * statement fails every update in it.
   */
  type Waiting = {
    update: (state: ChannelState | undefined) => ChannelUpdate<unknown>
    resolve: (value: unknown) => void
    reject: (error: unknown) => void
  }
  type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }
  type Batch = { channelId: Hex; updates: Waiting[] }
  const queues = new Map<Hex, Waiting[]>()
  // Jobs this process runs under `runExclusive`.
  const jobs = new Set<string>()
  // Channels with queued updates and no write in flight, oldest first.
  const ready = new Set<Hex>()
  // Channels in a write (grouped, or alone under the row lock).
  const writing = new Set<Hex>()
  let groupsInFlight = 0

  function enqueue(channelId: Hex, waiting: Waiting) {
    const queue = queues.get(channelId)
    if (queue !== undefined) {
      queue.push(waiting)
      return
    }
    queues.set(channelId, [waiting])
    if (!writing.has(channelId)) {
      ready.add(channelId)
      startGroups()
    }
  }

  function startGroups() {
    while (groupsInFlight < maxGroupsInFlight && ready.size > 0) {
      const group: Batch[] = []
      for (const channelId of ready) {
        if (group.length === maxChannelsPerWrite) break
        ready.delete(channelId)
        writing.add(channelId)
        group.push({ channelId, updates: queues.get(channelId)! })
        queues.delete(channelId)
      }
      groupsInFlight++
      void writeGroup(group).finally(() => {
        groupsInFlight--
        startGroups()
      })
    }
  }

  /** Answers a batch's updates (each its outcome, or all the write's error) and lets the channel's next updates be written. */
  function settle({ channelId, updates }: Batch, outcomes: Outcome[] | { error: unknown }) {
    for (const [i, waiting] of updates.entries()) {
      const outcome = Array.isArray(outcomes) ? outcomes[i]! : { ok: false as const, error: outcomes.error }
      if (outcome.ok) waiting.resolve(outcome.value)
      else waiting.reject(outcome.error)
    }
    writing.delete(channelId)
    if (queues.has(channelId)) {
      ready.add(channelId)
      startGroups()
    }
  }

  /** Runs the batch's updates in order from `initial`: what each returned, the final state, the idempotent responses to store. */
  function run(updates: Waiting[], initial: ChannelState | undefined) {
    let current = initial
    let written = false
    // By key: a later completion of the same key replaces an earlier one, as a row would.
    const records = new Map<string, CompletedRequest>()
    const outcomes = updates.map((waiting): Outcome => {
      try {
        const next = waiting.update(current)
        if (next.state !== undefined) {
          current = next.state
          written = true
        }
        if (next.completeRequest !== undefined) records.set(next.completeRequest.key, next.completeRequest)
        return { ok: true, value: next.result }
      } catch (error) {
        return { ok: false, error }
      }
    })
    return { outcomes, state: written ? current : undefined, records: [...records.values()] }
  }

  /**
   * The row as this process last committed it, per channel: the
   * expected version of the next compare-and-set. Only a hint: a write succeeds
   * only if the row still has that version, and an outcome that writes nothing
   * is decided on a fresh read, never on this.
   */
  type Known = { version: number; state: ChannelState }
  const known = new Map<Hex, Known>()
  const remember = (channelId: Hex, row: Known) => {
    known.delete(channelId)
    known.set(channelId, row)
    if (known.size > maxKnownChannels) known.delete(known.keys().next().value!)
  }

  type Row = { id: Hex; state: EncodedChannel; version: string | number }
  const knownOf = (row: Row): Known => ({ version: Number(row.version), state: decodeChannel(row.state) })

  async function readRow(sql: Pick<SqlClient, 'query'>, channelId: Hex, lock = ''): Promise<Known | undefined> {
    const rows = await sql.query<Row>(`SELECT id, state, version FROM mpp_channels WHERE id = $1${lock}`, [channelId])
    return rows[0] === undefined ? undefined : knownOf(rows[0])
  }

  async function readRows(sql: SqlClient, channelIds: Hex[]): Promise<Map<Hex, Known>> {
    const rows = await sql.query<Row>('SELECT id, state, version FROM mpp_channels WHERE id = ANY($1::text[])', [channelIds])
    return new Map(rows.map((row) => [row.id, knownOf(row)]))
  }

  /**
   * A group's writes as one statement: each channel's row moves from its expected
   * version to the next only if it is still at that version, and its idempotent
   * responses are written in the same statement only if it moved: atomic per
   * channel, since a statement commits whole. The rows that moved come back. The
   * rows are locked in id order (the sort comes before the lock), so
   * statements of several instances over overlapping channels cannot deadlock,
   * with the lock the update takes anyway (`FOR NO KEY UPDATE`: no key column
   * changes; measured: 0–20 % less server CPU per statement than `FOR UPDATE`);
   * a row another writer changed meanwhile is re-checked on its new version
   * after the wait, and left out.
   */
  const compareAndSetGroupSql = (withRecords: boolean) => `
    WITH proposed AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb) AS p(id text, state jsonb, expected bigint)
    ), locked AS MATERIALIZED (
      SELECT c.id FROM mpp_channels c JOIN proposed p ON p.id = c.id AND c.version = p.expected
      ORDER BY c.id FOR NO KEY UPDATE OF c
    ), won AS (
      UPDATE mpp_channels c SET state = p.state, version = p.expected + 1, updated_at = now()
      FROM proposed p JOIN locked l ON l.id = p.id WHERE c.id = p.id
      RETURNING c.id
    )${
      withRecords
        ? `, completed AS (
      INSERT INTO mpp_idempotency_records (key, state, response, expires_at)
      SELECT r.key, 'done', r.response, r.expires_at
      FROM jsonb_to_recordset($2::jsonb) AS r(channel text, key text, response jsonb, expires_at bigint)
      JOIN won w ON w.id = r.channel
      ON CONFLICT (key) DO UPDATE SET state = 'done', response = EXCLUDED.response, expires_at = EXCLUDED.expires_at
    )`
        : ''
    }
    SELECT id FROM won`
  const compareAndSetGroup = compareAndSetGroupSql(false)
  const compareAndSetGroupWithRecords = compareAndSetGroupSql(true)

  type Write = { channelId: Hex; base: Known; state: ChannelState; records: CompletedRequest[] }

  /**
   * The channels whose rows moved. One channel without responses to store (a
   * channel's only writer, between paid requests with Idempotency-Key) takes
   * the plain single-row update: one row needs no lock order, and it costs
   * PostgreSQL a fraction of the grouped statement's planning. The grouped
   * statements are named, so `pg` prepares each once per connection and its
   * plan is reused (measured: 10–30 % more pairs per second on 1,000 channels).
   */
  async function compareAndSet(sql: SqlClient, writes: Write[]): Promise<Set<Hex>> {
    const [only] = writes
    if (writes.length === 1 && only!.records.length === 0) {
      const moved = await writeRow(sql, only!.channelId, only!.base, { version: only!.base.version + 1, state: only!.state })
      return new Set(moved ? [only!.channelId] : [])
    }
    const rows = writes.map(({ channelId, base, state }) => ({ id: channelId, state: encodeChannel(state), expected: base.version }))
    const records = writes.flatMap(({ channelId, records }) =>
      records.map((record) => ({
        channel: channelId,
        key: recordKey(channelId, record.key),
        response: encodeResponse(record.response),
        // Not a number (a bug): JSON null, refused by the column, so the statement fails instead of writing a record without expiry.
        expires_at: Number.isFinite(record.expiresAt) ? record.expiresAt : null,
      })),
    )
    const won =
      records.length === 0
        ? await sql.query<{ id: Hex }>(compareAndSetGroup, [JSON.stringify(rows)], 'mpp_cas_group')
        : await sql.query<{ id: Hex }>(
            compareAndSetGroupWithRecords,
            [JSON.stringify(rows), JSON.stringify(records)],
            'mpp_cas_group_records',
          )
    return new Set(won.map((row) => row.id))
  }

  /**
   * One group: compare-and-set from the version this process last committed,
   * every channel in one statement (one round trip for the group while this
   * process is its channels' only writer, the common case). Channels this
   * process knows nothing of, or whose outcome writes nothing and must be
   * decided on a fresh read, are read first, all in one query. A channel that
   * lost the race re-reads and runs its batch again (updates are pure; only the
   * last run's results count). After `maxCompareAndSetAttempts` lost races,
   * and for a channel's first insert, the batch is written alone under the row
   * lock, which serves a hot channel's queue in order instead of letting
   * instances keep colliding.
   */
  async function writeGroup(group: Batch[]) {
    type Attempt = Batch & { base: Known | undefined; fresh: boolean; conflicts: number }
    let attempts: Attempt[] = group.map((batch) => ({ ...batch, base: known.get(batch.channelId), fresh: false, conflicts: 0 }))
    let sql: SqlClient
    try {
      sql = await client()
    } catch (error) {
      for (const attempt of attempts) settle(attempt, { error })
      return
    }
    while (attempts.length > 0) {
      const unread = attempts.filter((attempt) => attempt.base === undefined && !attempt.fresh)
      if (unread.length > 0) {
        let rows: Map<Hex, Known>
        try {
          rows = await readRows(
            sql,
            unread.map((attempt) => attempt.channelId),
          )
        } catch (error) {
          for (const attempt of attempts) settle(attempt, { error })
          return
        }
        for (const attempt of unread) {
          attempt.base = rows.get(attempt.channelId)
          attempt.fresh = true
        }
      }
      const again: Attempt[] = []
      const writes: (Write & { attempt: Attempt; outcomes: Outcome[] })[] = []
      for (const attempt of attempts) {
        const { outcomes, state, records } = run(attempt.updates, attempt.base?.state)
        if (state === undefined) {
          // Nothing to write: the outcome stands only if it was decided on a fresh read.
          if (attempt.fresh) settle(attempt, outcomes)
          else {
            attempt.base = undefined
            again.push(attempt)
          }
        } else if (attempt.base === undefined) writeAlone(sql, attempt)
        else writes.push({ channelId: attempt.channelId, base: attempt.base, state, records, attempt, outcomes })
      }
      if (writes.length > 0) {
        let won: Set<Hex> | undefined
        try {
          won = await compareAndSet(sql, writes)
        } catch (error) {
          for (const write of writes) settle(write.attempt, { error })
        }
        for (const { attempt, base, state, outcomes } of won === undefined ? [] : writes) {
          if (won!.has(attempt.channelId)) {
            remember(attempt.channelId, { version: base.version + 1, state })
            settle(attempt, outcomes)
            continue
          }
          known.delete(attempt.channelId)
          attempt.base = undefined
          attempt.fresh = false
          if (++attempt.conflicts < maxCompareAndSetAttempts) again.push(attempt)
          else writeAlone(sql, attempt)
        }
      }
      attempts = again
    }
  }

  /** A batch written on its own under the row lock; the channel stays in `writing` until it is answered. */
  function writeAlone(sql: SqlClient, batch: Batch) {
    applyBatchLocked(sql, batch.channelId, batch.updates).then(
      (outcomes) => settle(batch, outcomes),
      (error: unknown) => settle(batch, { error }),
    )
  }

  /** The batch under the row lock (`SELECT … FOR UPDATE`): every other writer waits its turn. */
  async function applyBatchLocked(sql: SqlClient, channelId: Hex, updates: Waiting[]): Promise<Outcome[]> {
    const { outcomes, written } = await sql.transaction(async (tx) => {
      for (let attempt = 1; ; attempt++) {
        const base = await readRow(tx, channelId, ' FOR UPDATE')
        const { outcomes, state, records } = run(updates, base?.state)
        const written = state === undefined ? undefined : { version: (base?.version ?? 0) + 1, state }
        // Under the lock only a first insert can find the row not as read (another process inserted it meanwhile).
        if (written !== undefined && !(await writeRow(tx, channelId, base, written))) {
          if (attempt >= maxInsertRaces) throw new Error(`channel ${channelId}: lost ${attempt} insert races in a row`)
          continue
        }
        for (const record of records) await writeRecord(tx, recordKey(channelId, record.key), record.response, record.expiresAt)
        return { outcomes, written }
      }
    })
    // Only a committed row may become the expected version of a later compare-and-set.
    if (written !== undefined) remember(channelId, written)
    return outcomes
  }

  /** Inserts the row (none expected) or moves it from `base`'s version to `next`'s; false when the row was not as expected. */
  async function writeRow(sql: Pick<SqlClient, 'query'>, channelId: Hex, base: Known | undefined, next: Known): Promise<boolean> {
    const encoded = JSON.stringify(encodeChannel(next.state))
    const rows =
      base === undefined
        ? await sql.query(
            'INSERT INTO mpp_channels (id, state, version) VALUES ($1, $2::jsonb, $3) ON CONFLICT (id) DO NOTHING RETURNING id',
            [channelId, encoded, next.version],
          )
        : await sql.query(
            'UPDATE mpp_channels SET state = $2::jsonb, version = $3, updated_at = now() WHERE id = $1 AND version = $4 RETURNING id',
            [channelId, encoded, next.version, base.version],
          )
    return rows.length === 1
  }

  return {
    async getChannel(channelId) {
      return (await readRow(await client(), channelId))?.state
    },

    async listChannels() {
      const rows = await (await client()).query<{ state: EncodedChannel }>('SELECT state FROM mpp_channels ORDER BY id')
      return rows.map((row) => decodeChannel(row.state))
    },

    /*
     * Linearizable per channel: every write is a compare-and-set on the row's
     * version (or, after repeated lost races and for a first insert, runs under
     * the row lock), and an update that writes nothing is decided on a fresh
     * read. Versions only ever grow by one per committed write, so a row at the
     * version this process last committed holds exactly the state it
     * remembers. Why not the row lock every time: it costs a transaction
     * (BEGIN, SELECT FOR UPDATE, UPDATE, COMMIT: four round trips) per write,
     * while a process that is its channels' only writer (one instance, or
     * sticky routing by channel) needs one statement per group of channels.
     * Why keep the lock: a hot channel written from several instances would
     * otherwise make every loser pay another read and write and maybe lose
     * again; the lock serves that queue in order. A process that dies
     * mid-transaction frees the lock with its connection. Two first inserts of
     * a new channel race in `ON CONFLICT DO NOTHING`; the loser reads the
     * winner's row and runs `update` again on it: `update` is pure, only its
     * last result is written.
     */
    updateChannel<T>(channelId: Hex, update: (state: ChannelState | undefined) => ChannelUpdate<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => enqueue(channelId, { update, resolve: resolve as (value: unknown) => void, reject }))
    },

    async consumeChallenge(id, expiresAt) {
      const sql = await client()
      maybeSweep()
      const rows = await sql.query(
        'INSERT INTO mpp_consumed_challenges (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id',
        [id, expiresAt],
      )
      return rows.length === 1
    },

    async releaseChallenge(id) {
      const sql = await client()
      await sql.query('DELETE FROM mpp_consumed_challenges WHERE id = $1', [id])
    },

    async claimRequest(channelId, requestKey, expiresAt) {
      const key = recordKey(channelId, requestKey)
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
        const rows = await sql.query<{ state: string; response: EncodedResponse | null }>(
          'SELECT state, response FROM mpp_idempotency_records WHERE key = $1 AND expires_at > $2',
          [key, now()],
        )
        if (rows[0] !== undefined) return recordOf(rows[0])
      }
    },

    async getRequest(channelId, requestKey) {
      const key = recordKey(channelId, requestKey)
      const sql = await client()
      const rows = await sql.query<{ state: string; response: EncodedResponse | null }>(
        'SELECT state, response FROM mpp_idempotency_records WHERE key = $1 AND expires_at > $2',
        [key, now()],
      )
      return rows[0] === undefined ? undefined : recordOf(rows[0])
    },

    async releaseRequest(channelId, requestKey) {
      const sql = await client()
      await sql.query('DELETE FROM mpp_idempotency_records WHERE key = $1', [recordKey(channelId, requestKey)])
    },

    /*
     * One statement: the upsert locks the key's row, so concurrent takes from
     * every instance apply one after another, each on the count the previous
     * one left. An ended window restarts at 1; a full one stays at limit + 1,
     * so the row always comes back and says both whether this take was
     * admitted and how long its window has left. The table is unlogged: the
     * commit waits for no WAL flush, so the row lock is held for microseconds
     * (measured: a read-only refusal for full windows was slower than this).
     */
    async takeRateLimit(key, limit, windowMs) {
      const sql = await client()
      maybeSweep()
      const rows = await sql.query<{ taken: number; remaining: string | number }>(
        `INSERT INTO mpp_rate_limits AS w (key, window_end, taken) VALUES ($1::text, ${serverNow} + $3::bigint, 1)
         ON CONFLICT (key) DO UPDATE SET
           window_end = CASE WHEN w.window_end <= ${serverNow} THEN EXCLUDED.window_end ELSE w.window_end END,
           taken = CASE WHEN w.window_end <= ${serverNow} THEN 1 ELSE least(w.taken + 1, $2::integer + 1) END
         RETURNING taken, w.window_end - ${serverNow} AS remaining`,
        [key, limit, windowMs],
      )
      const row = rows[0]!
      return row.taken <= limit ? undefined : Number(row.remaining)
    },

    async readCursor(name) {
      const sql = await client()
      const rows = await sql.query<{ block: string }>('SELECT block::text AS block FROM mpp_cursors WHERE name = $1', [name])
      return rows[0] === undefined ? undefined : BigInt(rows[0].block)
    },

    // One statement: the upsert locks the row, so concurrent advances apply in turn and the furthest stays.
    async advanceCursor(name, block) {
      const sql = await client()
      await sql.query(
        `INSERT INTO mpp_cursors AS c (name, block) VALUES ($1, $2::numeric)
         ON CONFLICT (name) DO UPDATE SET block = greatest(c.block, EXCLUDED.block)`,
        [name, block.toString()],
      )
    },

    /*
     * A session-level advisory lock on a connection held for the job: any
     * instance on the database that asks while it runs is told no at once, and
     * a process that dies mid-job frees the lock with its connection. Within
     * this process (PGlite's one session re-enters its own locks) a set says it.
     */
    async runExclusive(name, work) {
      if (jobs.has(name)) return { ran: false }
      jobs.add(name)
      try {
        return await (await client()).session(async (connection) => {
          const [row] = await connection.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [
            name,
          ])
          if (!row?.locked) return { ran: false as const }
          try {
            return { ran: true as const, value: await work() }
          } finally {
            await connection.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [name])
          }
        })
      } finally {
        jobs.delete(name)
      }
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
