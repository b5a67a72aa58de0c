import type { Hex } from 'viem'
import { z } from 'zod'
import { parseConfig } from '../errors/config-error.js'
import type { ChannelState } from '../session/channel.js'
import type { ChannelLister, ChannelUpdate, IdempotencyRecord } from '../session/store.js'
import type { JobLock } from '../session/sweeper.js'
import { callable } from '../util/config.js'
import type { SessionStore } from './store.js'

export type MemoryStoreOptions = {
  /** Clock in ms, for expiring consumed challenges and idempotency records, and for rate-limit windows. Default `Date.now`. */
  now?: () => number
}

const optionsSchema = z.object({ now: callable<() => number>().optional() })

/**
 * The in-process store: one process, lost on restart. Updates are linearizable
 * because each runs synchronously between two awaits of the event loop.
 */
export function memoryStore(options: MemoryStoreOptions = {}): SessionStore & ChannelLister & JobLock {
  parseConfig(optionsSchema, options, 'memoryStore')
  const now = options.now ?? Date.now
  const channels = new Map<Hex, ChannelState>()
  const challenges = new Map<string, number>()
  const requests = new Map<string, { record: IdempotencyRecord; expiresAt: number }>()
  const windows = new Map<string, { end: number; taken: number }>()
  const cursors = new Map<string, bigint>()
  const jobs = new Set<string>()
  let sweepAt = 1024
  let windowSweepAt = 1024
  const requestKey = (channelId: Hex, key: string) => `${channelId}|${key}`
  const liveRequest = (id: string) => {
    const entry = requests.get(id)
    if (entry !== undefined && entry.expiresAt <= now()) requests.delete(id)
    return entry !== undefined && entry.expiresAt > now() ? entry.record : undefined
  }

  return {
    async getChannel(channelId) {
      return channels.get(channelId)
    },

    async listChannels() {
      return [...channels.values()]
    },

    async updateChannel<T>(channelId: Hex, update: (state: ChannelState | undefined) => ChannelUpdate<T>) {
      const { state, result, completeRequest } = update(channels.get(channelId))
      if (state !== undefined) channels.set(channelId, state)
      if (completeRequest !== undefined) {
        const { key, response, expiresAt } = completeRequest
        requests.set(requestKey(channelId, key), { record: { state: 'done', response }, expiresAt })
      }
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

    async releaseChallenge(id) {
      challenges.delete(id)
    },

    async claimRequest(channelId, key, expiresAt) {
      const id = requestKey(channelId, key)
      const existing = liveRequest(id)
      if (existing !== undefined) return existing
      requests.set(id, { record: { state: 'pending' }, expiresAt })
      return undefined
    },

    async getRequest(channelId, key) {
      return liveRequest(requestKey(channelId, key))
    },

    async releaseRequest(channelId, key) {
      requests.delete(requestKey(channelId, key))
    },

    async takeRateLimit(key, limit, windowMs) {
      const time = now()
      const window = windows.get(key)
      if (window !== undefined && window.end > time) {
        if (window.taken >= limit) return window.end - time
        window.taken++
        return undefined
      }
      windows.set(key, { end: time + windowMs, taken: 1 })
      // Amortised sweep: forget ended windows once the map doubles.
      if (windows.size >= windowSweepAt) {
        for (const [stale, { end }] of windows) if (end <= time) windows.delete(stale)
        windowSweepAt = Math.max(1024, windows.size * 2)
      }
      return undefined
    },

    async readCursor(name) {
      return cursors.get(name)
    },

    async advanceCursor(name, block) {
      const current = cursors.get(name)
      if (current === undefined || block > current) cursors.set(name, block)
    },

    // One process: a set says who runs a job.
    async runExclusive(name, work) {
      if (jobs.has(name)) return { ran: false }
      jobs.add(name)
      try {
        return { ran: true, value: await work() }
      } finally {
        jobs.delete(name)
      }
    },
  }
}
