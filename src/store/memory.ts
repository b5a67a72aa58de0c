import type { Hex } from 'viem'
import type { ChannelState } from '../session/channel.js'
import type { ChannelUpdate, IdempotencyRecord, SessionStore, StoredResponse } from './port.js'

export type MemoryStoreOptions = {
  /** Clock in ms, for expiring consumed challenges. Default `Date.now`. */
  now?: () => number
}

/**
 * The in-process store: one process, lost on restart. Updates are linearizable
 * because each runs synchronously between two awaits of the event loop.
 */
export function memoryStore(options: MemoryStoreOptions = {}): SessionStore {
  const now = options.now ?? Date.now
  const channels = new Map<Hex, ChannelState>()
  const challenges = new Map<string, number>()
  const requests = new Map<string, { record: IdempotencyRecord; expiresAt: number }>()
  let sweepAt = 1024
  const liveRequest = (key: string) => {
    const entry = requests.get(key)
    if (entry !== undefined && entry.expiresAt <= now()) requests.delete(key)
    return entry !== undefined && entry.expiresAt > now() ? entry.record : undefined
  }

  return {
    async getChannel(channelId) {
      return channels.get(channelId)
    },

    async updateChannel<T>(channelId: Hex, update: (state: ChannelState | undefined) => ChannelUpdate<T>) {
      const { state, result, completeRequest } = update(channels.get(channelId))
      if (state !== undefined) channels.set(channelId, state)
      if (completeRequest !== undefined)
        requests.set(completeRequest.key, {
          record: { state: 'done', response: completeRequest.response },
          expiresAt: completeRequest.expiresAt,
        })
      return result
    },

    async consumeChallenge(id, expiresAt) {
      if (challenges.has(id)) return false
      challenges.set(id, expiresAt)
      // Amortised sweep: forget expired ids once the map doubles.
      if (challenges.size >= sweepAt) {
        const time = now()
        for (const [key, expiry] of challenges) if (expiry <= time) challenges.delete(key)
        sweepAt = Math.max(1024, challenges.size * 2)
      }
      return true
    },

    async claimRequest(key, expiresAt) {
      const existing = liveRequest(key)
      if (existing !== undefined) return existing
      requests.set(key, { record: { state: 'pending' }, expiresAt })
      return undefined
    },

    async getRequest(key) {
      return liveRequest(key)
    },

    async completeRequest(key: string, response: StoredResponse, expiresAt: number) {
      requests.set(key, { record: { state: 'done', response }, expiresAt })
    },

    async releaseRequest(key) {
      requests.delete(key)
    },
  }
}
