import type { Hex } from 'viem'

/**
 * Rate limits kept in the store, so they hold across every instance that
 * shares it (the engine's port; every store adapter implements it and passes
 * the conformance suite).
 *
 * Fixed windows per key: the first take on a key, or the first after its
 * window ended, opens a window of `windowMs` starting then; a window admits
 * `limit` takes and refuses every later one until it ends. Each take is atomic
 * across all callers of the store: N concurrent takes in one window admit
 * exactly min(N, limit). A key's windows never overlap, so, whatever the
 * number of instances, at most `limit` takes are admitted per window, at most
 * 2·`limit` in any interval of `windowMs` (the end of one window and the start
 * of the next), and at most `limit` per `windowMs` over time.
 */
export interface RateLimitStore {
  /**
   * Takes one unit of `key`'s current window. `undefined` when admitted; else
   * the milliseconds (≥ 1) until the window ends: a take at or after that time
   * opens a new window. The window's time is the store's own clock (PostgreSQL:
   * the server's), so instances' clocks need not agree. `channelId` names the
   * channel the key belongs to, if any, so an adapter may keep the window
   * with the channel.
   */
  takeRateLimit(key: string, limit: number, windowMs: number, channelId?: Hex): Promise<number | undefined>
}

/** Takes one unit of a limit; the whole seconds to wait (`Retry-After`) when over it. */
export type RateLimiter = (key: string, limit: number, windowMs: number, channelId?: Hex) => Promise<number | undefined>

/**
 * The store's limits behind a per-process front. Once the store refuses a key,
 * its window is full until it ends (a fixed window only fills up), so later
 * takes of that key in this process are refused here without a store round
 * trip until then: a flood on one key costs the store about one write per
 * window per instance. The front never admits: admissions are the store's.
 */
export function rateLimiter(store: RateLimitStore, now: () => number): RateLimiter {
  // Key → the time (this process's clock) before which the store refuses it.
  const refused = new Map<string, number>()
  let sweepAt = 1024

  const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))

  return async function take(key, limit, windowMs, channelId) {
    const until = refused.get(key)
    if (until !== undefined) {
      const wait = until - now()
      if (wait > 0) return seconds(wait)
      refused.delete(key)
    }
    const wait = await store.takeRateLimit(key, limit, windowMs, channelId)
    if (wait === undefined) return undefined
    // Measured from the answer's arrival: at worst a round trip later than the window's end, never earlier.
    refused.set(key, now() + wait)
    // Amortised sweep: forget ended refusals once the map doubles.
    if (refused.size >= sweepAt) {
      const time = now()
      for (const [stale, end] of refused) if (end <= time) refused.delete(stale)
      sweepAt = Math.max(1024, refused.size * 2)
    }
    return seconds(wait)
  }
}
