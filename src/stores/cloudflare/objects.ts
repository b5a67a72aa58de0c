// The Durable Objects of the Cloudflare store (the Worker side is store.ts):
// one `ChannelObject` per channel, holding its state, idempotency records and
// rate-limit windows, and `KeyShard`s holding consumed challenge ids and the
// other rate-limit windows. Each object runs one event at a time; its SQLite
// writes in `transactionSync` are atomic. A channel's alarm also runs the
// settlement sweeper for that channel when the Worker supplies one.
import { DurableObject } from 'cloudflare:workers'
import type { DurableObjectState, SqlStorage } from '@cloudflare/workers-types'
import { hash32 } from '../../protocol/hash.js'
import type { CompletedRequest, IdempotencyRecord } from '../../session/store.js'
import type { ChannelSweeper } from '../../session/sweeper.js'
import { decodeChannel, type EncodedChannel } from '../codec.js'

export const defaultKeyShards = 16

/** A channel row as the object returns it: version 0 and no JSON when never written. */
export type VersionedChannel = { version: number; json: string | null }

export type CompareAndSetResult = { written: true; version: number } | { written: false; current: VersionedChannel }

/** Extra time after the earliest expiry before an object sweeps, so one alarm removes many entries. */
const sweepDelayMs = 60_000

/** Idempotency records in an object's SQLite: claim, read, complete, release; expired ones count as absent. */
class RequestTable {
  constructor(private readonly sql: SqlStorage) {
    sql.exec('CREATE TABLE IF NOT EXISTS request (key TEXT PRIMARY KEY, record TEXT NOT NULL, expires_at INTEGER NOT NULL)')
    sql.exec('CREATE INDEX IF NOT EXISTS request_expiry ON request (expires_at)')
  }

  live(key: string): IdempotencyRecord | undefined {
    const row = this.sql
      .exec<{ record: string; expires_at: number }>('SELECT record, expires_at FROM request WHERE key = ?', key)
      .toArray()[0]
    if (row === undefined) return undefined
    if (row.expires_at <= Date.now()) {
      this.delete(key)
      return undefined
    }
    return JSON.parse(row.record) as IdempotencyRecord
  }

  /** `undefined` when the caller now owns `key` (a pending record is written), else the live record. */
  claim(key: string, expiresAt: number): IdempotencyRecord | undefined {
    const live = this.live(key)
    if (live === undefined) this.put(key, { state: 'pending' }, expiresAt)
    return live
  }

  put(key: string, record: IdempotencyRecord, expiresAt: number) {
    this.sql.exec(
      'INSERT INTO request (key, record, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET record = excluded.record, expires_at = excluded.expires_at',
      key,
      JSON.stringify(record),
      expiresAt,
    )
  }

  delete(key: string) {
    this.sql.exec('DELETE FROM request WHERE key = ?', key)
  }

  /** Deletes expired records; returns the earliest remaining expiry. */
  sweep(now: number): number | null {
    this.sql.exec('DELETE FROM request WHERE expires_at <= ?', now)
    return this.sql.exec<{ next: number | null }>('SELECT MIN(expires_at) AS next FROM request').one().next
  }

  counts(now: number) {
    const row = this.sql
      .exec<{ n: number; expired: number }>('SELECT COUNT(*) AS n, COALESCE(SUM(expires_at <= ?), 0) AS expired FROM request', now)
      .one()
    return { requests: row.n, expired: row.expired }
  }
}

/**
 * Rate-limit windows in an object's SQLite (the semantics of `RateLimitStore`).
 * A take reads and writes synchronously, so no other event of the object runs
 * in between: each take is atomic.
 */
class RateLimitTable {
  constructor(private readonly sql: SqlStorage) {
    sql.exec('CREATE TABLE IF NOT EXISTS rate_limit (key TEXT PRIMARY KEY, window_end INTEGER NOT NULL, taken INTEGER NOT NULL)')
    sql.exec('CREATE INDEX IF NOT EXISTS rate_limit_end ON rate_limit (window_end)')
  }

  /** `undefined` when admitted, else the ms until the window ends. */
  take(key: string, limit: number, windowMs: number, now: number): number | undefined {
    const row = this.sql
      .exec<{ window_end: number; taken: number }>('SELECT window_end, taken FROM rate_limit WHERE key = ?', key)
      .toArray()[0]
    if (row !== undefined && row.window_end > now) {
      if (row.taken >= limit) return row.window_end - now
      this.sql.exec('UPDATE rate_limit SET taken = taken + 1 WHERE key = ?', key)
      return undefined
    }
    this.sql.exec(
      'INSERT INTO rate_limit (key, window_end, taken) VALUES (?, ?, 1) ON CONFLICT (key) DO UPDATE SET window_end = excluded.window_end, taken = 1',
      key,
      now + windowMs,
    )
    return undefined
  }

  /** Deletes ended windows; returns the earliest remaining end. */
  sweep(now: number): number | null {
    this.sql.exec('DELETE FROM rate_limit WHERE window_end <= ?', now)
    return this.sql.exec<{ next: number | null }>('SELECT MIN(window_end) AS next FROM rate_limit').one().next
  }
}

/** A Durable Object whose entries expire: an alarm sweeps them some time after the earliest expiry. */
abstract class SweptObject extends DurableObject<unknown> {
  protected readonly sql: SqlStorage
  /** The alarm as this object last read or set it: `undefined` not known yet, `null` none. */
  private alarmAt: number | null | undefined

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env)
    this.sql = ctx.storage.sql
  }

  /** Deletes what expired by `now`; returns the earliest remaining expiry, or null when nothing is left. */
  protected abstract sweep(now: number): number | null

  override async alarm(): Promise<void> {
    this.alarmAt = null // the alarm that fired is no longer set
    const next = this.sweep(Date.now())
    if (next !== null) await this.scheduleSweep(next)
  }

  /** Makes sure an alarm fires no later than a little after `expiresAt`. Garbage collection only: reads ignore expired entries anyway. */
  protected async scheduleSweep(expiresAt: number) {
    await this.wakeBy(Math.max(expiresAt, Date.now()) + sweepDelayMs)
  }

  /** Makes sure the alarm fires no later than `at` (one alarm per object: the earliest wins). */
  protected async wakeBy(at: number) {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm()
    if (this.alarmAt !== null && this.alarmAt <= at) return
    this.alarmAt = at
    await this.ctx.storage.setAlarm(at)
  }
}

/**
 * One channel's state, idempotency records and rate-limit windows, serialised
 * by the object's single-threaded execution. Its windows are few (one per
 * per-channel limit) and are not swept: a take replaces an ended one.
 */
export class ChannelObject extends SweptObject {
  private readonly requests: RequestTable
  private readonly rateLimits: RateLimitTable

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env)
    this.sql.exec(
      'CREATE TABLE IF NOT EXISTS channel (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), version INTEGER NOT NULL, state TEXT NOT NULL)',
    )
    // When the channel is next swept (settlement sweeper): one row while a sweep is due, none otherwise.
    this.sql.exec('CREATE TABLE IF NOT EXISTS channel_sweep (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), due_at INTEGER NOT NULL)')
    this.requests = new RequestTable(this.sql)
    this.rateLimits = new RateLimitTable(this.sql)
  }

  /**
   * The settlement sweeper for this channel, or undefined for none (a bare
   * store). The Worker's subclass (src/worker.ts) supplies the gateway's: the
   * objects layer knows no engine.
   */
  protected channelSweeper(): ChannelSweeper | undefined {
    return undefined
  }

  private dueSweep(): number | undefined {
    return this.sql.exec<{ due_at: number }>('SELECT due_at FROM channel_sweep WHERE singleton = 1').toArray()[0]?.due_at
  }

  private async setDueSweep(at: number | undefined) {
    if (at === undefined) {
      this.sql.exec('DELETE FROM channel_sweep')
      return
    }
    this.sql.exec(
      'INSERT INTO channel_sweep (singleton, due_at) VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET due_at = excluded.due_at',
      at,
    )
    await this.wakeBy(at)
  }

  /** After a write: the channel is swept within the sweeper's interval (sooner if it was due sooner). */
  private async sweepSoon() {
    const sweeper = this.channelSweeper()
    if (sweeper === undefined) return
    const at = Date.now() + sweeper.intervalMs
    const due = this.dueSweep()
    if (due === undefined || due > at) await this.setDueSweep(at)
  }

  /**
   * The alarm: expired records first, then the channel's sweep if it is due.
   * The sweep runs the engine, which reads and writes this channel through
   * the store's RPCs to this very object (events interleave at the awaits);
   * afterwards the next sweep is due when the engine says, but not before
   * the sweeper's interval, so a sweep that could not act is not retried in a loop.
   */
  override async alarm(): Promise<void> {
    await super.alarm()
    const due = this.dueSweep()
    if (due === undefined) return
    const sweeper = this.channelSweeper()
    if (sweeper === undefined || due > Date.now()) {
      await this.setDueSweep(sweeper === undefined ? undefined : due)
      return
    }
    const row = this.read()
    let next: number | undefined = Date.now() + sweeper.intervalMs
    try {
      next = row.json === null ? undefined : await sweeper.sweep(decodeChannel(JSON.parse(row.json) as EncodedChannel))
    } finally {
      await this.setDueSweep(next === undefined ? undefined : Math.max(next, Date.now() + sweeper.intervalMs))
    }
  }

  read(): VersionedChannel {
    const row = this.sql.exec<{ version: number; state: string }>('SELECT version, state FROM channel WHERE singleton = 1').toArray()[0]
    return row === undefined ? { version: 0, json: null } : { version: row.version, json: row.state }
  }

  /**
   * Writes `json` as version `expectedVersion + 1`, and `completed` with it,
   * if the row is still at `expectedVersion`; else writes nothing and returns
   * the current row.
   */
  async compareAndSet(expectedVersion: number, json: string, completed?: CompletedRequest): Promise<CompareAndSetResult> {
    // One synchronous transaction from the check to the writes: no other event can interleave.
    const outcome = this.ctx.storage.transactionSync((): CompareAndSetResult => {
      const current = this.read()
      if (current.version !== expectedVersion) return { written: false, current }
      const version = expectedVersion + 1
      this.sql.exec(
        'INSERT INTO channel (singleton, version, state) VALUES (1, ?, ?) ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, state = excluded.state',
        version,
        json,
      )
      if (completed !== undefined) this.requests.put(completed.key, { state: 'done', response: completed.response }, completed.expiresAt)
      return { written: true, version }
    })
    if (outcome.written) {
      if (completed !== undefined) await this.scheduleSweep(completed.expiresAt)
      await this.sweepSoon()
    }
    return outcome
  }

  async claimRequest(key: string, expiresAt: number): Promise<IdempotencyRecord | undefined> {
    const live = this.requests.claim(key, expiresAt)
    if (live === undefined) await this.scheduleSweep(expiresAt)
    return live
  }

  getRequest(key: string): IdempotencyRecord | undefined {
    return this.requests.live(key)
  }

  releaseRequest(key: string): void {
    this.requests.delete(key)
  }

  takeRateLimit(key: string, limit: number, windowMs: number): number | undefined {
    return this.rateLimits.take(key, limit, windowMs, Date.now())
  }

  /** Idempotency records held, and how many have expired but not been swept yet (for tests and operators). */
  inspect(): { requests: number; expired: number } {
    return this.requests.counts(Date.now())
  }

  protected sweep(now: number): number | null {
    return this.requests.sweep(now)
  }
}

/**
 * A shard of keys that belong to no channel: consumed challenge ids, rate-limit
 * windows (e.g. per client), and block cursors (each in a shard of its own name).
 */
export class KeyShard extends SweptObject {
  private readonly rateLimits: RateLimitTable

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env)
    this.sql.exec('CREATE TABLE IF NOT EXISTS challenge (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)')
    this.sql.exec('CREATE INDEX IF NOT EXISTS challenge_expiry ON challenge (expires_at)')
    // Blocks as decimal text: SQLite integers come back as JS numbers, exact only to 2^53.
    this.sql.exec('CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, block TEXT NOT NULL)')
    this.rateLimits = new RateLimitTable(this.sql)
  }

  /** The cursor's block (decimal), or null before its first advance. */
  readCursor(name: string): string | null {
    return this.sql.exec<{ block: string }>('SELECT block FROM cursor WHERE name = ?', name).toArray()[0]?.block ?? null
  }

  /** Moves the cursor to `block` (decimal) unless it is already there or further; read and write with no await between: atomic. */
  advanceCursor(name: string, block: string): void {
    const current = this.readCursor(name)
    if (current !== null && BigInt(current) >= BigInt(block)) return
    this.sql.exec('INSERT INTO cursor (name, block) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET block = excluded.block', name, block)
  }

  /** True for the first caller of a live id; an expired entry counts as absent. */
  async consumeChallenge(id: string, expiresAt: number): Promise<boolean> {
    const row = this.sql.exec<{ expires_at: number }>('SELECT expires_at FROM challenge WHERE id = ?', id).toArray()[0]
    if (row !== undefined && row.expires_at > Date.now()) return false
    this.sql.exec(
      'INSERT INTO challenge (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at',
      id,
      expiresAt,
    )
    await this.scheduleSweep(expiresAt)
    return true
  }

  async releaseChallenge(id: string): Promise<void> {
    this.sql.exec('DELETE FROM challenge WHERE id = ?', id)
  }

  async takeRateLimit(key: string, limit: number, windowMs: number): Promise<number | undefined> {
    const now = Date.now()
    const wait = this.rateLimits.take(key, limit, windowMs, now)
    // Keys per client are unbounded: ended windows are swept like expired challenges.
    if (wait === undefined) await this.scheduleSweep(now + windowMs)
    return wait
  }

  /** Entries held, and how many have expired (ended) but not been swept yet (for tests and operators). */
  inspect(): { challenges: number; expired: number; rateLimits: number; ended: number } {
    const now = Date.now()
    const row = this.sql
      .exec<{ n: number; expired: number }>('SELECT COUNT(*) AS n, COALESCE(SUM(expires_at <= ?), 0) AS expired FROM challenge', now)
      .one()
    const windows = this.sql
      .exec<{ n: number; ended: number }>('SELECT COUNT(*) AS n, COALESCE(SUM(window_end <= ?), 0) AS ended FROM rate_limit', now)
      .one()
    return { challenges: row.n, expired: row.expired, rateLimits: windows.n, ended: windows.ended }
  }

  protected sweep(now: number): number | null {
    this.sql.exec('DELETE FROM challenge WHERE expires_at <= ?', now)
    const challenges = this.sql.exec<{ next: number | null }>('SELECT MIN(expires_at) AS next FROM challenge').one().next
    const windows = this.rateLimits.sweep(now)
    if (challenges === null) return windows
    return windows === null ? challenges : Math.min(challenges, windows)
  }
}

/** The name of the `KeyShard` object that holds challenge `id` (`idFromName` of it). */
export function keyShardName(id: string, shards = defaultKeyShards): string {
  return `challenge/${hash32(id) % shards}`
}

/** The name of the `KeyShard` object that holds the block cursor `name`: one object per cursor (there are few). */
export const cursorShardName = (name: string) => `cursor/${name}`

/** The name of the `KeyShard` object that holds the rate-limit window of `key`, a key of no channel. */
export function rateLimitShardName(key: string, shards = defaultKeyShards): string {
  return `rate/${hash32(key) % shards}`
}
