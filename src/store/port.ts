import type { Hex } from 'viem'
import type { ChannelState } from '../session/channel.js'

/** What an update decided: a new state to write (or none), and a result for the caller. */
export type ChannelUpdate<T> = { state?: ChannelState; result: T }

/**
 * Where channel accounting lives. Every adapter (memory, Postgres, Durable
 * Objects) gives the same guarantees:
 * - `updateChannel` is linearizable per channel: each update sees the state the
 *   previous one wrote. `update` must be pure and synchronous: an adapter may run
 *   it more than once (compare-and-set retry) and writes only its last result.
 *   If it throws, nothing is written and the error reaches the caller.
 * - `consumeChallenge` succeeds once per id; entries may be forgotten after
 *   `expiresAt` (an expired challenge is rejected before it gets here).
 */
export interface SessionStore {
  getChannel(channelId: Hex): Promise<ChannelState | undefined>
  updateChannel<T>(channelId: Hex, update: (state: ChannelState | undefined) => ChannelUpdate<T>): Promise<T>
  consumeChallenge(id: string, expiresAt: number): Promise<boolean>
}
