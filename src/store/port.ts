import type { Hex } from 'viem'
import type { ChannelState } from '../session/channel.js'

/** A paid response kept for `Idempotency-Key` retries: replayed byte for byte, receipt included. */
export type StoredResponse = { status: number; headers: Record<string, string>; body: string }

/** An idempotency record: the first request is still running, or its response. */
export type IdempotencyRecord = { state: 'pending' } | { state: 'done'; response: StoredResponse }

/** What an update decided: a new state to write (or none), and a result for the caller. */
export type ChannelUpdate<T> = {
  state?: ChannelState
  result: T
  /**
   * An idempotency record to complete in the same atomic write as `state`
   * (both or neither): the engine stores a paid response with its charge, so
   * a crash between the two cannot lose the response of a committed charge.
   */
  completeRequest?: { key: string; response: StoredResponse; expiresAt: number }
}

/**
 * Where channel accounting lives. Every adapter (memory, Postgres, Durable
 * Objects) gives the same guarantees:
 * - `updateChannel` is linearizable per channel: each update sees the state the
 *   previous one wrote. `update` must be pure and synchronous: an adapter may run
 *   it more than once (compare-and-set retry) and writes only its last result.
 *   If it throws, nothing is written and the error reaches the caller. A
 *   `completeRequest` it returns is written with its state, atomically.
 * - `consumeChallenge` succeeds once per id; entries may be forgotten after
 *   `expiresAt` (an expired challenge is rejected before it gets here).
 * - `claimRequest` succeeds for one caller per key until the record expires or
 *   is released; a pending claim expires too, so a crashed request frees its key.
 */
export interface SessionStore {
  getChannel(channelId: Hex): Promise<ChannelState | undefined>
  updateChannel<T>(channelId: Hex, update: (state: ChannelState | undefined) => ChannelUpdate<T>): Promise<T>
  consumeChallenge(id: string, expiresAt: number): Promise<boolean>
  /** Claims an idempotency key: `undefined` when this caller now owns it, else the live record. */
  claimRequest(key: string, expiresAt: number): Promise<IdempotencyRecord | undefined>
  /** The live record of a key, if any. */
  getRequest(key: string): Promise<IdempotencyRecord | undefined>
  /** Stores the response of an owned key until `expiresAt`. */
  completeRequest(key: string, response: StoredResponse, expiresAt: number): Promise<void>
  /** Drops an owned key whose request failed, so a retry runs it again. */
  releaseRequest(key: string): Promise<void>
}
