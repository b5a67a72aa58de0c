import { describe, expect, it } from 'vitest'
import { parseRetryAfter } from '../../src/protocol/retry-after.js'

describe('Retry-After', () => {
  const now = Date.parse('2026-04-20T12:00:00Z')

  it('reads delay-seconds and an HTTP-date (rounded up to whole seconds, never negative)', () => {
    expect(parseRetryAfter('7', now)).toBe(7)
    expect(parseRetryAfter(' 0 ', now)).toBe(0)
    expect(parseRetryAfter('Mon, 20 Apr 2026 12:00:05 GMT', now)).toBe(5)
    expect(parseRetryAfter('Mon, 20 Apr 2026 12:00:04 GMT', now - 500)).toBe(5)
    expect(parseRetryAfter('Mon, 20 Apr 2026 11:59:00 GMT', now)).toBe(0)
  })

  it('caps a wait at an hour, and ignores an absent or unreadable field', () => {
    expect(parseRetryAfter('86400', now)).toBe(3600)
    expect(parseRetryAfter(null, now)).toBeUndefined()
    for (const value of ['', '-1', '1.5', 'soon']) expect(parseRetryAfter(value, now)).toBeUndefined()
  })
})
