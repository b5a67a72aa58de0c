import type { Hex } from 'viem'
import type { ChannelState } from './channel.js'

/** A paid response kept for `Idempotency-Key` retries: replayed byte for byte, receipt included. */
export type StoredResponse = { status: number; headers: Record<string, string>; body: string }

/** An idempotency record: the first request is still running, or its response. */
export type IdempotencyRecord = { state: 'pending' } | { state: 'done'; response: StoredResponse }

/** A finished idempotent request, written by `updateChannel` with the charge it belongs to. */
export type CompletedRequest = { key: string; response: StoredResponse; expiresAt: number }

/** What an update decided: a new state to write (or none), and a result for the caller. */
export type ChannelUpdate<T> = {
  state?: ChannelState
  result: T
  /**
   * An idempotency record of this channel to complete in the same atomic write
   * as `state` (both or neither): the engine stores a paid response with its
   * charge, so a crash between the two cannot lose the response of a committed charge.
   */
  completeRequest?: CompletedRequest
}

/**
 * Where the session engine keeps channel accounting and the idempotency records
 * of paid requests (each record belongs to one channel). Every adapter
 * (memory, PostgreSQL, Durable Objects) gives the same guarantees, checked by
 * one conformance suite:
 * - `updateChannel` is linearizable per channel: each update sees the state the
 *   previous one wrote. `update` must be pure and synchronous: an adapter may run
 *   it more than once (compare-and-set retry) and writes only its last result.
 *   If it throws, nothing is written and the error reaches the caller. A
 *   `completeRequest` it returns is written with its state, atomically.
 * - `claimRequest` succeeds for one caller per (channel, key) until the record
 *   expires or is released; a pending claim expires too, so a crashed request
 *   frees its key.
 */
export interface ChannelStore {
  getChannel(channelId: Hex): Promise<ChannelState | undefined>
  updateChannel<T>(channelId: Hex, update: (state: ChannelState | undefined) => ChannelUpdate<T>): Promise<T>
  /** Claims an idempotency key: `undefined` when this caller now owns it, else the live record. */
  claimRequest(channelId: Hex, key: string, expiresAt: number): Promise<IdempotencyRecord | undefined>
  /** The live record of a key, if any. */
  getRequest(channelId: Hex, key: string): Promise<IdempotencyRecord | undefined>
  /** Drops an owned key whose request failed, so a retry runs it again. */
  releaseRequest(channelId: Hex, key: string): Promise<void>
}

/**
 * A store that can list every channel it holds (memory, PostgreSQL/PGlite):
 * what `/metrics` sums and `npm run ops` prints. Durable Objects cannot (one
 * object per channel, no index across them).
 */
export interface ChannelLister {
  listChannels(): Promise<ChannelState[]>
}
