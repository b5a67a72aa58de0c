// The SessionStore port on Cloudflare Durable Objects with SQLite-backed storage.
//
// Layout
// - One `ChannelObject` per channel (`idFromName(channelId)`, lowercase): one
//   row holding the channel as codec JSON (exact decimal amounts) and a version
//   counter, plus the idempotency records of that channel (the engine names the
//   channel of every record).
// - `KeyShard` objects hold consumed challenge ids: each id lives in shard
//   `challenge/(hash32(id) mod shards)` (SHA-256-derived), 16 by default. The
//   shard count decides where an id lives: never change it on a deployment
//   holding live challenges (a changed count only forgets ids, like an expiry,
//   but within their lifetime a challenge could then be used twice).
// No KV anywhere: KV is eventually consistent and cannot give "exactly once".
//
// Why `updateChannel` is linearizable per channel
// `update` is a closure in the Worker and cannot cross into a Durable Object.
// So the Worker reads `(state, version)` from the channel's object over RPC,
// runs the pure `update` locally, and writes back with `compareAndSet(version,
// next)`. A Durable Object runs one event at a time, and `compareAndSet` does
// its version check and its writes in one synchronous SQL transaction with no
// `await` in between, so no other call can run in the middle: each CAS is
// atomic. A write succeeds only if nothing was written since the read it was
// computed from, so the update's linearization point is that successful CAS
// (for an update that writes nothing, the read). On a conflict the object
// returns its current `(state, version)` and the Worker runs `update` again on
// it (the port allows re-running `update`; only the last result is written and
// returned); a repeat loser backs off (jittered) and reads afresh. If `update`
// throws, nothing is written and the error reaches the caller.
//
// Idempotency records and atomic completion
// The port asks that a `completeRequest` returned by `update` be written with
// the state, both or neither: a record lives in its channel's object, and the
// CAS writes state and record in one transaction.
//
// Expiry: challenge ids and idempotency records carry `expiresAt`. An expired
// entry is ignored (and deleted) when read; each object's alarm sweeps the rest
// some time after the earliest expiry and re-arms itself while entries remain.
import { DurableObject } from 'cloudflare:workers'
import type { DurableObjectNamespace, DurableObjectState, SqlStorage } from '@cloudflare/workers-types'
import type { Hex } from 'viem'
import { z } from 'zod'
import { parseConfig } from '../errors/config-error.js'
import { hash32 } from '../protocol/hash.js'
import type { ChannelState } from '../session/channel.js'
import type { ChannelUpdate, CompletedRequest, IdempotencyRecord } from '../session/store.js'
import { callable, implementing, integer } from '../util/config.js'
import { sleep } from '../util/sleep.js'
import { decodeChannel, type EncodedChannel, encodeChannel } from './codec.js'
import type { SessionStore } from './store.js'

/** The bindings the store needs (wrangler.toml `[[durable_objects.bindings]]`). */
export type DurableObjectStoreEnv = {
  CHANNELS: DurableObjectNamespace<ChannelObject>
  KEY_SHARDS: DurableObjectNamespace<KeyShard>
}

export type DurableObjectStoreOptions = {
  /** Shards for challenge ids. Default 16. Fixed for a deployment's lifetime. */
  shards?: number
  /** Compare-and-set attempts per `updateChannel` before it gives up with an error. Default 100. */
  maxAttempts?: number
  /** Called on every lost compare-and-set (for metrics and tests). */
  onConflict?: (channelId: Hex, attempt: number) => void
}

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

/** A Durable Object whose entries expire: an alarm sweeps them some time after the earliest expiry. */
abstract class SweptObject extends DurableObject<unknown> {
  protected readonly sql: SqlStorage
  /** The alarm as this object last read or set it: `undefined` not known yet, `null` none. */
  private sweepAt: number | null | undefined

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env)
    this.sql = ctx.storage.sql
  }

  /** Deletes what expired by `now`; returns the earliest remaining expiry, or null when nothing is left. */
  protected abstract sweep(now: number): number | null

  override async alarm(): Promise<void> {
    this.sweepAt = null // the alarm that fired is no longer set
    const next = this.sweep(Date.now())
    if (next !== null) await this.scheduleSweep(next)
  }

  /** Makes sure an alarm fires no later than a little after `expiresAt`. Garbage collection only: reads ignore expired entries anyway. */
  protected async scheduleSweep(expiresAt: number) {
    const at = Math.max(expiresAt, Date.now()) + sweepDelayMs
    if (this.sweepAt === undefined) this.sweepAt = await this.ctx.storage.getAlarm()
    if (this.sweepAt !== null && this.sweepAt <= at) return
    this.sweepAt = at
    await this.ctx.storage.setAlarm(at)
  }
}

/** One channel's state and idempotency records, serialised by the object's single-threaded execution. */
export class ChannelObject extends SweptObject {
  private readonly requests: RequestTable

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env)
    this.sql.exec(
      'CREATE TABLE IF NOT EXISTS channel (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), version INTEGER NOT NULL, state TEXT NOT NULL)',
    )
    this.requests = new RequestTable(this.sql)
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
    if (outcome.written && completed !== undefined) await this.scheduleSweep(completed.expiresAt)
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

  /** Idempotency records held, and how many have expired but not been swept yet (for tests and operators). */
  inspect(): { requests: number; expired: number } {
    return this.requests.counts(Date.now())
  }

  protected sweep(now: number): number | null {
    return this.requests.sweep(now)
  }
}

/** A shard of consumed challenge ids. */
export class KeyShard extends SweptObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env)
    this.sql.exec('CREATE TABLE IF NOT EXISTS challenge (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)')
    this.sql.exec('CREATE INDEX IF NOT EXISTS challenge_expiry ON challenge (expires_at)')
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

  /** Entries held, and how many have expired but not been swept yet (for tests and operators). */
  inspect(): { challenges: number; expired: number } {
    const row = this.sql
      .exec<{ n: number; expired: number }>('SELECT COUNT(*) AS n, COALESCE(SUM(expires_at <= ?), 0) AS expired FROM challenge', Date.now())
      .one()
    return { challenges: row.n, expired: row.expired }
  }

  protected sweep(now: number): number | null {
    this.sql.exec('DELETE FROM challenge WHERE expires_at <= ?', now)
    return this.sql.exec<{ next: number | null }>('SELECT MIN(expires_at) AS next FROM challenge').one().next
  }
}

/** The name of the `KeyShard` object that holds challenge `id` (`idFromName` of it). */
export function keyShardName(id: string, shards = defaultKeyShards): string {
  return `challenge/${hash32(id) % shards}`
}

const optionsSchema = z.object({
  shards: integer(1).optional(),
  maxAttempts: integer(1).optional(),
  onConflict: callable<(channelId: Hex, attempt: number) => void>().optional(),
})
const envSchema = z.object({
  CHANNELS: implementing<unknown>(['idFromName', 'get']),
  KEY_SHARDS: implementing<unknown>(['idFromName', 'get']),
})

/**
 * The Worker side of the store: each call is one or two RPCs to the Durable
 * Object that owns the channel or challenge id. Cheap to create (no I/O until
 * used). The bindings and options are validated here: a missing binding throws
 * a `ConfigError` at start.
 */
export function durableObjectStore(env: DurableObjectStoreEnv, options: DurableObjectStoreOptions = {}): SessionStore {
  parseConfig(envSchema, env, 'durableObjectStore bindings', true)
  parseConfig(optionsSchema, options, 'durableObjectStore')
  const shards = options.shards ?? defaultKeyShards
  const maxAttempts = options.maxAttempts ?? 100

  // Channel ids are hex: one object per id whatever its case.
  const channel = (channelId: string) => env.CHANNELS.get(env.CHANNELS.idFromName(channelId.toLowerCase()))
  const decode = (row: VersionedChannel): ChannelState | undefined =>
    row.json === null ? undefined : decodeChannel(JSON.parse(row.json) as EncodedChannel)

  return {
    async getChannel(channelId) {
      return decode(await channel(channelId).read())
    },

    async updateChannel<T>(channelId: Hex, update: (state: ChannelState | undefined) => ChannelUpdate<T>): Promise<T> {
      const stub = channel(channelId)
      let current: VersionedChannel = await stub.read()
      for (let attempt = 1; ; attempt++) {
        const { state, result, completeRequest } = update(decode(current))
        if (state !== undefined) {
          const outcome = await stub.compareAndSet(current.version, JSON.stringify(encodeChannel(state)), completeRequest)
          if (!outcome.written) {
            options.onConflict?.(channelId, attempt)
            if (attempt >= maxAttempts)
              throw new Error(`updateChannel(${channelId}): still conflicting after ${maxAttempts} compare-and-set attempts`)
            if (attempt === 1) {
              current = outcome.current // retry at once on the state that won
            } else {
              // A repeat loser backs off (jittered, up to 50 ms), then reads afresh.
              await sleep(Math.random() * Math.min(50, 2 ** attempt))
              current = await stub.read()
            }
            continue
          }
        }
        return result
      }
    },

    consumeChallenge(id, expiresAt) {
      return env.KEY_SHARDS.get(env.KEY_SHARDS.idFromName(keyShardName(id, shards))).consumeChallenge(id, expiresAt)
    },

    claimRequest(channelId, key, expiresAt) {
      return channel(channelId).claimRequest(key, expiresAt)
    },

    async getRequest(channelId, key) {
      return channel(channelId).getRequest(key)
    },

    async releaseRequest(channelId, key) {
      await channel(channelId).releaseRequest(key)
    },
  }
}
