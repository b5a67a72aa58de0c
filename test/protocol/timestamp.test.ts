import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isStrictRfc3339, rfc3339Instant } from '../../src/protocol/timestamp.js'

// Dates whose year has four digits, the only ones RFC 3339 can write.
const dates = fc.date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true })
// A day inside those bounds, so that the date in local time at any offset still has four digits.
const innerDates = fc.date({ min: new Date('0000-01-02T00:00:00.000Z'), max: new Date('9999-12-30T23:59:59.999Z'), noInvalidDate: true })
const two = (value: number) => String(value).padStart(2, '0')

// `date` written in local time at `offsetMinutes` from UTC, e.g. `…T14:30:00.250+02:00`.
function withOffset(date: Date, offsetMinutes: number): string {
  const local = new Date(date.getTime() + offsetMinutes * 60_000).toISOString().slice(0, -1)
  const sign = offsetMinutes < 0 ? '-' : '+'
  const magnitude = Math.abs(offsetMinutes)
  return `${local}${sign}${two(Math.floor(magnitude / 60))}:${two(magnitude % 60)}`
}

describe('rfc3339Instant', () => {
  it.each([
    ['2025-01-15T12:05:00Z', Date.UTC(2025, 0, 15, 12, 5, 0)],
    ['2025-01-15t12:05:00z', Date.UTC(2025, 0, 15, 12, 5, 0)],
    ['2025-01-15T12:05:00.5Z', Date.UTC(2025, 0, 15, 12, 5, 0, 500)],
    ['2025-01-15T12:05:00.123999999Z', Date.UTC(2025, 0, 15, 12, 5, 0, 123)],
    ['2025-01-15T17:35:00+05:30', Date.UTC(2025, 0, 15, 12, 5, 0)],
    ['2025-01-15T07:05:00-05:00', Date.UTC(2025, 0, 15, 12, 5, 0)],
    ['2025-01-15T12:05:00-00:00', Date.UTC(2025, 0, 15, 12, 5, 0)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
    ['2016-12-31T23:59:60Z', Date.UTC(2017, 0, 1)],
    ['0000-01-01T00:00:00Z', -62_167_219_200_000],
    ['0099-12-31T23:59:59Z', -59_011_459_201_000],
  ])('reads %s', (value, instant) => {
    expect(rfc3339Instant(value)).toBe(instant)
  })

  it.each([
    '2025-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2025-02-30T00:00:00Z',
    '2025-04-31T00:00:00Z',
    '2025-13-01T00:00:00Z',
    '2025-00-10T00:00:00Z',
    '2025-01-00T00:00:00Z',
    '2025-01-15T24:00:00Z',
    '2025-01-15T12:60:00Z',
    '2025-01-15T12:05:61Z',
    '2025-01-15T12:05:00+24:00',
    '2025-01-15T12:05:00+05:60',
    '2025-01-15T12:05:00',
    '2025-01-15 12:05:00Z',
    '2025-01-15T12:05Z',
    '2025-01-15T12:05:00.Z',
    '2025-01-15T12:05:00,5Z',
    '2025-01-15T12:05:00+0530',
    '2025-01-15',
    '+012025-01-15T12:05:00Z',
    ' 2025-01-15T12:05:00Z',
    '2025-01-15T12:05:00Z\n',
    '１２０２５-01-15T12:05:00Z',
    '1736942700',
    '',
  ])('refuses %j', (value) => {
    expect(rfc3339Instant(value)).toBeUndefined()
  })

  it('reads back what toISOString writes, at any offset', () => {
    fc.assert(
      fc.property(innerDates, fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }), (date, offset) => {
        expect(rfc3339Instant(date.toISOString())).toBe(date.getTime())
        expect(rfc3339Instant(withOffset(date, offset))).toBe(date.getTime())
      }),
      { numRuns: 2_000 },
    )
  })

  it('never throws', () => {
    const dateTimeish = fc.string({ unit: fc.constantFrom(...'0123456789-:.+TtZz '.split('')), maxLength: 40 })
    fc.assert(
      fc.property(fc.oneof(fc.string(), dateTimeish), (value) => {
        rfc3339Instant(value)
      }),
      { numRuns: 2_000 },
    )
  })
})

describe('isStrictRfc3339', () => {
  it('takes RFC 3339 date-times with uppercase T and Z only', () => {
    expect(isStrictRfc3339('2025-01-15T12:05:00Z')).toBe(true)
    expect(isStrictRfc3339('2025-01-15T12:05:00.123+05:30')).toBe(true)
    expect(isStrictRfc3339('2025-01-15t12:05:00Z')).toBe(false)
    expect(isStrictRfc3339('2025-01-15T12:05:00z')).toBe(false)
    expect(isStrictRfc3339('2025-02-30T12:05:00Z')).toBe(false)
  })

  it('takes everything toISOString writes', () => {
    fc.assert(
      fc.property(dates, (date) => {
        expect(isStrictRfc3339(date.toISOString())).toBe(true)
      }),
    )
  })
})
