// The store on Cloudflare Durable Objects with SQLite-backed storage.
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
// Rate limits
// A window of a key that belongs to a channel lives in the channel's object,
// beside the channel (no other object is touched); any other key's window lives
// in `KeyShard` `rate/(hash32(key) mod shards)`. A take is one RPC, and the
// object reads and writes the window synchronously, so takes are atomic. The
// time is the object's clock. Changing the shard count only forgets windows.
//
// Block cursors (the close watcher's `CursorStore`): each in the `KeyShard`
// named `cursor/<name>`, read and advanced in one synchronous step: atomic.
//
// Expiry: challenge ids and idempotency records carry `expiresAt`. An expired
// entry is ignored (and deleted) when read; each object's alarm sweeps the rest
// some time after the earliest expiry and re-arms itself while entries remain.
import type { DurableObjectNamespace } from '@cloudflare/workers-types'
import type { Hex } from 'viem'
import { z } from 'zod'
import { parseConfig } from '../../errors/config-error.js'
import type { ChannelState } from '../../session/channel.js'
import type { ChannelUpdate } from '../../session/store.js'
import { callable, implementing, integer } from '../../util/config.js'
import { sleep } from '../../util/sleep.js'
import { decodeChannel, type EncodedChannel, encodeChannel } from '../codec.js'
import type { SessionStore } from '../store.js'
import {
  type ChannelObject,
  cursorShardName,
  defaultKeyShards,
  type KeyShard,
  keyShardName,
  rateLimitShardName,
  type VersionedChannel,
} from './objects.js'

/** The bindings the store needs (wrangler.toml `[[durable_objects.bindings]]`). */
export type DurableObjectStoreEnv = {
  CHANNELS: DurableObjectNamespace<ChannelObject>
  KEY_SHARDS: DurableObjectNamespace<KeyShard>
}

export type DurableObjectStoreOptions = {
  /** Shards for challenge ids (and, as many, for rate-limit windows of no channel). Default 16. Fixed for a deployment's lifetime. */
  shards?: number
  /** Compare-and-set attempts per `updateChannel` before it gives up with an error. Default 100. */
  maxAttempts?: number
  /** Called on every lost compare-and-set (for metrics and tests). */
  onConflict?: (channelId: Hex, attempt: number) => void
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
  const shard = (name: string) => env.KEY_SHARDS.get(env.KEY_SHARDS.idFromName(name))
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
      return shard(keyShardName(id, shards)).consumeChallenge(id, expiresAt)
    },

    async takeRateLimit(key, limit, windowMs, channelId) {
      if (channelId !== undefined) return channel(channelId).takeRateLimit(key, limit, windowMs)
      return shard(rateLimitShardName(key, shards)).takeRateLimit(key, limit, windowMs)
    },
    async readCursor(name) {
      const block = await shard(cursorShardName(name)).readCursor(name)
      return block === null ? undefined : BigInt(block)
    },

    async advanceCursor(name, block) {
      await shard(cursorShardName(name)).advanceCursor(name, block.toString())
    },

    releaseChallenge(id) {
      return env.KEY_SHARDS.get(env.KEY_SHARDS.idFromName(keyShardName(id, shards))).releaseChallenge(id)
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
