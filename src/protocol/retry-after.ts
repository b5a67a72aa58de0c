// The `Retry-After` field (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.

/** The longest wait read, so a broken header cannot park a client for days. */
const maxRetryAfterSeconds = 3600

/** `Retry-After` in whole seconds (an HTTP-date counted from `now`, rounded up); `undefined` when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined
  const trimmed = value.trim()
  let seconds: number
  if (/^\d+$/.test(trimmed)) seconds = Number(trimmed)
  else {
    // Each HTTP-date form (IMF-fixdate, RFC 850, asctime) starts with the day's name; Date.parse alone takes "-1" or "1.5" too.
    const date = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)/.test(trimmed) ? Date.parse(trimmed) : Number.NaN
    if (Number.isNaN(date)) return undefined
    seconds = Math.max(0, Math.ceil((date - now) / 1000))
  }
  return Math.min(seconds, maxRetryAfterSeconds)
}
