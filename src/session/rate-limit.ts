/**
 * Per-key limit on expensive work (a voucher signature recovery) within one
 * process: at most `perSecond` in any one-second window. Returns the seconds to
 * wait when the key is over its limit.
 */
export function rateLimiter(perSecond: number, now: () => number = Date.now) {
  const windows = new Map<string, { start: number; count: number }>()
  let sweepAt = now() + 10_000

  return function take(key: string): number | undefined {
    const time = now()
    if (time >= sweepAt) {
      for (const [stale, window] of windows) if (time - window.start >= 1_000) windows.delete(stale)
      sweepAt = time + 10_000
    }
    const window = windows.get(key)
    if (window === undefined || time - window.start >= 1_000) {
      windows.set(key, { start: time, count: 1 })
      return undefined
    }
    if (window.count >= perSecond) return Math.max(1, Math.ceil((window.start + 1_000 - time) / 1_000))
    window.count++
    return undefined
  }
}
