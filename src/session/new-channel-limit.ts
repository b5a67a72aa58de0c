// A channel new to this gateway costs it work on a stranger's behalf: an open
// (a transaction to decode, a signature to recover, chain reads, a broadcast),
// or any request naming a channel the store does not hold (a chain read, to
// learn whether it exists). No per-channel limit holds these back, so they are
// limited per client address, through the store, across every instance sharing it.
import { PaymentError } from '../errors/payment-error.js'
import type { SessionContext } from './context.js'

/**
 * Takes one new channel for the client at `address`; throws `mpp_rate_limited`
 * once its source is over `opensPerMinute`. A request whose address is unknown
 * (an in-process call; both entries always know it) is not limited here.
 */
export async function takeNewChannel(ctx: SessionContext, address: string | undefined): Promise<void> {
  if (address === undefined) return
  const retryAfter = await ctx.rateLimit(`open:${sourceOf(address)}`, ctx.settings.opensPerMinute, 60_000)
  if (retryAfter !== undefined) {
    throw new PaymentError(
      'mpp_rate_limited',
      'Too many new channels (opens, or channels this server does not know) from this address; slow down.',
      {
        retryAfter,
      },
    )
  }
}

/**
 * What an address counts against: an IPv4 address itself (also written
 * IPv4-mapped, `::ffff:a.b.c.d`); an IPv6 address its /64, since one host
 * commonly holds a whole /64; anything else as given, lowercased.
 */
export function sourceOf(address: string): string {
  const text = address.toLowerCase().replace(/%.*$/, '') // an IPv6 zone names a local interface, not a source
  if (!text.includes(':')) return text
  const groups = ipv6Groups(text)
  if (groups === undefined) return text
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.')
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address in text form, or `undefined` if it is not one. */
function ipv6Groups(text: string): number[] | undefined {
  // A trailing dotted quad stands for the last two groups.
  const quad = /:(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  const bytes = quad?.slice(1).map(Number) ?? []
  if (bytes.some((byte) => byte > 255)) return undefined
  const hex =
    quad === null
      ? text
      : `${text.slice(0, quad.index)}:${((bytes[0]! << 8) | bytes[1]!).toString(16)}:${((bytes[2]! << 8) | bytes[3]!).toString(16)}`
  const halves = hex.split('::')
  if (halves.length > 2) return undefined
  const part = (half: string) => (half === '' ? [] : half.split(':'))
  const head = part(halves[0]!)
  const tail = halves.length === 2 ? part(halves[1]!) : []
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  const all = [...head, ...Array<string>(missing).fill('0'), ...tail]
  if (!all.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return undefined
  return all.map((group) => Number.parseInt(group, 16))
}
