import type { Address } from 'viem'
import { z } from 'zod'
import { ConfigError, parseConfig } from '../errors/config-error.js'
import { PaymentError } from '../errors/payment-error.js'
import type { RecoveryBackend } from '../secp256k1/backend.js'
import { selectRecoveryBackend } from '../secp256k1/select.js'
import { address, amount, callable, implementing, integer } from '../util/config.js'
import type { Escrow } from './escrow.js'
import type { RateLimitStore } from './rate-limit.js'
import { isFeeShortfall } from './readiness.js'
import type { ChannelStore } from './store.js'
import { zeroAddress } from './v2/descriptor.js'

export type TempoSessionOptions = {
  /**
   * The session protocol this engine's challenges offer (`methodDetails.sessionProtocol`), and the only one its
   * credentials may use: `v1` the `TempoStreamChannel` escrow contract (`viemEscrow`), `v2` the TIP-20 channel
   * reserve precompile (`precompileEscrow`). Default `v1`. A route takes one: mount an engine per protocol.
   */
  sessionProtocol?: 'v1' | 'v2'
  /** v2: the payee-side operator advertised in challenges (`methodDetails.operator`); descriptors must name it. Default: none (the zero address). */
  operator?: Address
  escrow: Escrow
  /** Channel accounting, idempotency records and rate limits: share one store between instances, and the limits hold across them. */
  store: ChannelStore & RateLimitStore
  /** The payee: channels must pay this address. Any case; normalised. */
  recipient: Address
  /** The TIP-20 token channels must hold. */
  currency: Address
  /** Smallest increase a new voucher must add. Default 0 (any increase). */
  minVoucherDelta?: bigint
  /** Smallest deposit an `open` may carry. Default 1.00 token (1,000,000 base units). */
  minDeposit?: bigint
  /** Deposit suggested in challenges for new channels. Default 10 × minDeposit. */
  suggestedDeposit?: bigint
  /** How long a read of on-chain channel state is trusted (ms). Default 5,000. */
  chainCacheTtl?: number
  /**
   * How old a chain read may be when a voucher above the accepted amount is accepted (ms): a new voucher
   * raises what the payee serves on trust, so a forced close requested since is seen first. Default 1,000.
   */
  voucherReadTtl?: number
  /** How long a reservation holds funds before it lapses (ms); keep it above the handler's timeout. Default 60,000. */
  reservationTtl?: number
  /** Vouchers are asked for in whole buckets of this size (base units), so most requests need none. Default 1 (no rounding). */
  bucketSize?: bigint
  /** An accepted voucher older than this (ms) must be refreshed before it pays new reservations. Default: never expires. */
  bucketTtl?: number
  /**
   * How far above `spent` a new voucher may reach (base units), unless the request needs more (then what it
   * needs, rounded up to a bucket): bounds what the payee serves without a voucher it could settle (README:
   * Operating a payee, the exposure bound). At least `bucketSize`. v1 only: v2 captures exactly what was spent. Default: no limit.
   */
  maxUnsettledExposure?: bigint
  /** New voucher signatures verified per channel per second before `mpp_rate_limited`. Default 10. */
  verificationsPerSecond?: number
  /** Channel opens per client address (an IPv6 one by its /64) per minute before `mpp_rate_limited`. Default 30. */
  opensPerMinute?: number
  /** Operator containment on the verified payer (`mpp_payer_not_allowed`). */
  payers?: { allow?: readonly Address[]; deny?: readonly Address[]; check?: (payer: Address) => boolean | Promise<boolean> }
  /** How long a paid response is kept for `Idempotency-Key` retries (ms). Default 24 h. */
  idempotencyTtl?: number
  /** How long a retry waits for the original request still in flight (ms). Default: reservationTtl. */
  idempotencyWait?: number
  /**
   * Settle on-chain once this much is spent but unsettled: on the request that passes it, and in the
   * settlement sweeper once this much is settleable. Default: no threshold.
   */
  settleThreshold?: bigint
  /** The settlement sweeper settles a channel whose oldest unsettled charge is older than this (ms). Default: no age limit. */
  settleAfter?: number
  /** The settlement sweeper settles and closes a channel with no request or voucher for this long (ms). Default: never. */
  closeIdleAfter?: number
  /**
   * Receives errors of background settlements (which never affect a response). A payee that cannot pay
   * the fee is a `PaymentError` (`mpp_session_close_unavailable`) whose `cause` is a `FeeShortfallError`;
   * background settlement then waits `readinessTtl` before trying again.
   */
  onBackgroundError?: (error: unknown) => void
  /** How long a reading of the payee's readiness (its fee balance) is trusted (ms). Default 15,000. */
  readinessTtl?: number
  /**
   * The secp256k1 backend voucher signatures are recovered with (src/secp256k1/). Default: the fastest this
   * runtime loads (`selectRecoveryBackend()`: native on Node, WebAssembly on Workers, else noble).
   */
  recovery?: RecoveryBackend
  now?: () => number
}

const schema = z.object({
  sessionProtocol: z.enum(['v1', 'v2'], { error: 'must be "v1" or "v2"' }).optional(),
  operator: address.optional(),
  escrow: z.object({
    address,
    chainId: integer(1),
    canSubmit: z.boolean({ error: 'must say whether the escrow can send settle/close' }),
    getChannel: callable(),
    decodeTransaction: callable(),
    broadcast: callable(),
    settle: callable(),
    close: callable(),
    payeeFees: callable(),
    transactionStatus: callable(),
  }),
  store: implementing<ChannelStore & RateLimitStore>([
    'getChannel',
    'updateChannel',
    'claimRequest',
    'getRequest',
    'releaseRequest',
    'takeRateLimit',
  ]),
  recipient: address,
  currency: address,
  minVoucherDelta: amount(0n).optional(),
  minDeposit: amount(1n).optional(),
  suggestedDeposit: amount(1n).optional(),
  chainCacheTtl: integer(0).optional(),
  voucherReadTtl: integer(0).optional(),
  reservationTtl: integer(1).optional(),
  bucketSize: amount(1n).optional(),
  bucketTtl: integer(1).optional(),
  maxUnsettledExposure: amount(1n).optional(),
  verificationsPerSecond: integer(1).optional(),
  opensPerMinute: integer(1).optional(),
  payers: z
    .object({
      allow: z.array(address).optional(),
      deny: z.array(address).optional(),
      check: callable<(payer: Address) => boolean | Promise<boolean>>().optional(),
    })
    .optional(),
  idempotencyTtl: integer(1).optional(),
  idempotencyWait: integer(0).optional(),
  settleThreshold: amount(1n).optional(),
  settleAfter: integer(1).optional(),
  closeIdleAfter: integer(1).optional(),
  onBackgroundError: callable<(error: unknown) => void>().optional(),
  readinessTtl: integer(0).optional(),
  recovery: implementing<RecoveryBackend>(['recover']).optional(),
  now: callable<() => number>().optional(),
})

/** The engine's settings: validated, normalised, every default filled in. */
export type SessionSettings = {
  sessionProtocol: 'v1' | 'v2'
  /** v2: the operator descriptors must name; the zero address when none is advertised. */
  operator: Address
  recipient: Address
  currency: Address
  minVoucherDelta: bigint
  minDeposit: bigint
  suggestedDeposit: bigint
  chainCacheTtl: number
  voucherReadTtl: number
  reservationTtl: number
  bucketSize: bigint
  bucketTtl: number | undefined
  maxUnsettledExposure: bigint | undefined
  verificationsPerSecond: number
  opensPerMinute: number
  payers: {
    allow: ReadonlySet<Address> | undefined
    deny: ReadonlySet<Address>
    check: ((payer: Address) => boolean | Promise<boolean>) | undefined
  }
  idempotencyTtl: number
  idempotencyWait: number
  settleThreshold: bigint | undefined
  settleAfter: number | undefined
  closeIdleAfter: number | undefined
  onBackgroundError: (error: unknown) => void
  readinessTtl: number
  recovery: RecoveryBackend
  now: () => number
}

/** One JSON line per failed background settlement: its code, and for a payee that cannot pay the fee the figures (never a key). */
export function logBackgroundError(error: unknown) {
  const fees = isFeeShortfall(error) ? error.cause.fees : undefined
  const line = {
    event: fees === undefined ? 'settlement_failed' : 'payee_cannot_pay_fees',
    ...(error instanceof PaymentError ? { code: error.code } : { error: error instanceof Error ? error.name : typeof error }),
    ...(fees === undefined
      ? {}
      : { payee: fees.address, feeToken: fees.token, feeBalance: fees.balance.toString(), feeNeeded: fees.needed.toString() }),
  }
  console.error(JSON.stringify(line))
}

/** Validates `options` (a bad one throws a `ConfigError` naming it) and fills in the defaults, in one place. */
export function resolveSessionOptions(options: TempoSessionOptions): SessionSettings {
  const valid = parseConfig(schema, options, 'tempoSession')
  const minDeposit = valid.minDeposit ?? 1_000_000n
  const suggestedDeposit = valid.suggestedDeposit ?? minDeposit * 10n
  if (suggestedDeposit < minDeposit) throw new ConfigError('tempoSession.suggestedDeposit', 'must be at least minDeposit')
  const reservationTtl = valid.reservationTtl ?? 60_000
  const bucketSize = valid.bucketSize ?? 1n
  if (valid.maxUnsettledExposure !== undefined && valid.maxUnsettledExposure < bucketSize) {
    throw new ConfigError(
      'tempoSession.maxUnsettledExposure',
      'must be at least bucketSize (the gateway asks for vouchers a bucket at a time)',
    )
  }
  const sessionProtocol = valid.sessionProtocol ?? 'v1'
  if (sessionProtocol === 'v1' && valid.operator !== undefined) {
    throw new ConfigError('tempoSession.operator', 'is a session protocol v2 setting (sessionProtocol "v2")')
  }
  if (sessionProtocol === 'v2' && valid.maxUnsettledExposure !== undefined) {
    throw new ConfigError('tempoSession.maxUnsettledExposure', 'is a session protocol v1 setting (v2 captures exactly what was spent)')
  }
  return {
    sessionProtocol,
    operator: valid.operator ?? zeroAddress,
    recipient: valid.recipient,
    currency: valid.currency,
    minVoucherDelta: valid.minVoucherDelta ?? 0n,
    minDeposit,
    suggestedDeposit,
    chainCacheTtl: valid.chainCacheTtl ?? 5_000,
    voucherReadTtl: valid.voucherReadTtl ?? 1_000,
    reservationTtl,
    bucketSize,
    bucketTtl: valid.bucketTtl,
    maxUnsettledExposure: valid.maxUnsettledExposure,
    verificationsPerSecond: valid.verificationsPerSecond ?? 10,
    opensPerMinute: valid.opensPerMinute ?? 30,
    payers: {
      allow: valid.payers?.allow && new Set(valid.payers.allow),
      deny: new Set(valid.payers?.deny ?? []),
      check: valid.payers?.check,
    },
    idempotencyTtl: valid.idempotencyTtl ?? 86_400_000,
    idempotencyWait: valid.idempotencyWait ?? reservationTtl,
    settleThreshold: valid.settleThreshold,
    settleAfter: valid.settleAfter,
    closeIdleAfter: valid.closeIdleAfter,
    onBackgroundError: valid.onBackgroundError ?? logBackgroundError,
    readinessTtl: valid.readinessTtl ?? 15_000,
    recovery: valid.recovery ?? selectRecoveryBackend().backend,
    now: valid.now ?? Date.now,
  }
}
