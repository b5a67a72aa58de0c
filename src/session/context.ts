import type { Hex } from 'viem'
import { assertInvariant, type ChannelState } from './channel.js'
import type { Escrow } from './escrow.js'
import type { SessionSettings } from './options.js'
import { type RateLimiter, type RateLimitStore, rateLimiter } from './rate-limit.js'
import { type PayeeReadiness, payeeReadiness } from './readiness.js'
import { type Recoveries, recoveries } from './recoveries.js'
import type { ChannelStore, ChannelUpdate } from './store.js'
import type { VoucherContext } from './v1/voucher.js'

/** Counters of this process's engine (README: Operating a payee, metrics). */
export type SessionCounters = {
  /** Voucher signatures recovered and checked (copies of one voucher sharing a recovery count once). */
  voucherVerifications: number
}

/** What every part of the engine shares: its settings, its ports and the per-process guards. One per `tempoSession`. */
export type SessionContext = {
  readonly settings: SessionSettings
  readonly escrow: Escrow
  readonly store: ChannelStore & RateLimitStore
  /** The EIP-712 context vouchers are signed in: this escrow on this chain. */
  readonly voucherContext: VoucherContext
  /** Takes one unit of a limit shared through the store (fronted in this process); the seconds to wait when over it. */
  readonly rateLimit: RateLimiter
  /** Voucher signer recoveries of this process: one per distinct voucher, shared by concurrent copies and remembered a while. */
  readonly recoveries: Recoveries
  /** Channels with a settlement in flight from this process. */
  readonly settling: Set<Hex>
  /** Chain reads in flight from this process that concurrent requests may share (`recentChain`). */
  readonly chainReads: Map<Hex, Promise<ChannelState>>
  /** The payee's readiness to settle and close (can it sign, can it pay the fee), read at most once per `readinessTtl`. */
  readonly readiness: PayeeReadiness
  /** What this process did, for `/metrics`. */
  readonly counters: SessionCounters
  /** Writes through the store; every write passes the accounting invariant, so no adapter can persist a broken one. */
  update<T>(channelId: Hex, change: (state: ChannelState | undefined) => ChannelUpdate<T>): Promise<T>
}

export function createContext(settings: SessionSettings, escrow: Escrow, store: ChannelStore & RateLimitStore): SessionContext {
  return {
    settings,
    escrow,
    store,
    voucherContext: { chainId: escrow.chainId, escrow: escrow.address },
    rateLimit: rateLimiter(store, settings.now),
    // A burst's copies of one voucher arrive within a few seconds; a thousand vouchers is a few hundred KiB.
    recoveries: recoveries({ capacity: 1_024, ttlMs: 30_000, joinTimeoutMs: 2_000, now: settings.now }),
    settling: new Set(),
    chainReads: new Map(),
    readiness: payeeReadiness(escrow, settings),
    counters: { voucherVerifications: 0 },
    update(channelId, change) {
      return store.updateChannel(channelId, (current) => {
        const next = change(current)
        if (next.state !== undefined) assertInvariant(next.state)
        return next
      })
    },
  }
}
