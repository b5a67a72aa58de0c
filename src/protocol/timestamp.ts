// RFC 3339 §5.6 `date-time`: the wire form of a challenge's `expires` and a
// receipt's `timestamp` (draft-httpauth-payment-02 normatively cites RFC 3339).
const dateTime = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/

const isLeapYear = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
const daysInMonth = (year: number, month: number) => (month === 2 ? (isLeapYear(year) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31)

/**
 * The instant, in milliseconds since the epoch, that an RFC 3339 `date-time`
 * names, or undefined when `value` is not one: the grammar of §5.6 (`T` and `Z`
 * in either case, as its note allows; a fraction of any length; `Z` or a
 * numeric offset) within the limits of §5.7 (days per month and leap year, hour
 * 00–23, minute 00–59, second 00–60). A fraction is truncated to milliseconds;
 * a leap second (`:60`) names the instant of the next second.
 */
export function rfc3339Instant(value: string): number | undefined {
  const match = dateTime.exec(value)
  if (match === null) return undefined
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const [fraction, sign, offsetHours, offsetMinutes] = [match[7], match[8], Number(match[9] ?? 0), Number(match[10] ?? 0)]
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (hour > 23 || minute > 59 || second > 60 || offsetHours > 23 || offsetMinutes > 59) return undefined
  const date = new Date(0)
  // setUTCFullYear, unlike Date.UTC, takes years 0–99 as they are.
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second, fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0')))
  const offset = (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000
  return date.getTime() - offset
}

/**
 * Whether `value` is an RFC 3339 `date-time` in the form this project emits:
 * `T` and `Z` uppercase, the only spelling mppx 0.11's receipt and challenge
 * schemas accept (a lowercase `t` or `z` can only be a separator there).
 */
export function isStrictRfc3339(value: string): boolean {
  return rfc3339Instant(value) !== undefined && !/[tz]/.test(value)
}
