import type { Address, Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import type { OnChainChannel } from './escrow.js'
import type { ChannelDescriptor } from './v2/descriptor.js'

/** A voucher the server accepted: canonical signature, amount in base units. */
export type AcceptedVoucher = { amount: bigint; signature: Hex }

/** Money held for one in-flight request until it is committed or released. */
export type Reservation = { amount: bigint; expiresAt: number }

/**
 * One channel as the server accounts for it. Authority: the chain for `deposit`,
 * `settled` and the close state (cached here, re-read when stale); the store for
 * the accepted voucher, `spent` and reservations. Invariant at every step:
 * `spent + reserved ≤ acceptedCumulative ≤ deposit`.
 */
export type ChannelState = OnChainChannel & {
  channelId: Hex
  /** When the on-chain fields were read (ms since the epoch). */
  chainReadAt: number
  /** Highest cumulative amount the payer authorized and the server verified. */
  acceptedCumulative: bigint
  /** When `acceptedCumulative` last advanced (ms). */
  acceptedAt: number
  /**
   * Accepted vouchers above `settled`, ascending; the last proves
   * `acceptedCumulative`. Kept so settlement can capture at most `spent`.
   */
  vouchers: AcceptedVoucher[]
  /** Committed charges, cumulative. */
  spent: bigint
  reservations: Record<string, Reservation>
  /** A close is being sent: no new reservations. */
  closing: boolean
  closeTxHash?: Hex
  /** When a request last reserved or committed on the channel (ms); absent on rows written before it was kept. */
  activeAt?: number
  /** When a charge first left `spent` above `settled` (ms); absent while everything spent is settled. */
  unsettledSince?: number
  /**
   * A payee settle or close sent but not seen mined (its confirmation timed out): the next settlement, close
   * or reconciliation asks the chain about it before acting again, so a late one is never doubled.
   */
  pendingTransaction?: PendingTransaction
  /**
   * Session protocol v2: the channel's descriptor, which the precompile needs on
   * every call after the open (settle, close) and every v2 credential must
   * match. Absent for v1 channels. Immutable, like the channel id it derives.
   */
  descriptor?: ChannelDescriptor
}

/** A payee transaction whose outcome is not known yet; a pending close keeps the channel `closing`. */
export type PendingTransaction = { kind: 'settle' | 'close'; txHash: Hex; amount: bigint; sentAt: number }

const zeroAddress = '0x0000000000000000000000000000000000000000'
// Accepted vouchers above `spent` kept for settlement; older ones only lose granularity.
const maxVouchersAhead = 8

export const reservedOf = (state: ChannelState) => Object.values(state.reservations).reduce((sum, r) => sum + r.amount, 0n)
export const expectedSigner = (state: Pick<ChannelState, 'payer' | 'authorizedSigner'>): Address =>
  state.authorizedSigner === zeroAddress ? state.payer : state.authorizedSigner

/** A channel the store has not seen: everything already settled counts as spent and accepted. A v2 channel keeps its `descriptor`. */
export function fromChain(channelId: Hex, chain: OnChainChannel, now: number, descriptor?: ChannelDescriptor): ChannelState {
  return {
    channelId,
    ...chain,
    ...(descriptor === undefined ? {} : { descriptor }),
    chainReadAt: now,
    acceptedCumulative: chain.settled,
    acceptedAt: now,
    vouchers: [],
    spent: chain.settled,
    reservations: {},
    closing: false,
  }
}

/** Merges a fresh chain read; never moves `deposit` or `settled` backwards on an older read. */
export function withChain(state: ChannelState, chain: OnChainChannel, readAt: number): ChannelState {
  if (readAt < state.chainReadAt) return state
  const settled = chain.settled > state.settled ? chain.settled : state.settled
  const spent = state.spent > settled ? state.spent : settled
  // Everything spent is settled: no unsettled spend has an age any more.
  const { unsettledSince, ...rest } = state
  return {
    ...rest,
    ...(spent > settled && unsettledSince !== undefined ? { unsettledSince } : {}),
    deposit: chain.deposit,
    settled,
    closeRequestedAt: chain.closeRequestedAt,
    finalized: state.finalized || chain.finalized,
    chainReadAt: readAt,
    spent,
    acceptedCumulative: state.acceptedCumulative > settled ? state.acceptedCumulative : settled,
    vouchers: state.vouchers.filter((voucher) => voucher.amount > settled),
  }
}

/** Refuses service on a channel that is closed, closing, or has a pending forced close. */
export function assertUsable(state: ChannelState): void {
  const extensions = { channelId: state.channelId }
  if (state.finalized) throw new PaymentError('mpp_channel_finalized', 'The channel is closed.', { extensions })
  if (state.closeRequestedAt !== 0n) {
    throw new PaymentError('mpp_channel_finalized', 'The payer requested a forced close of this channel; open a new one.', { extensions })
  }
  if (state.closing) throw new PaymentError('mpp_channel_finalized', 'The channel is being closed.', { extensions })
}

/**
 * Accepts a verified voucher that advances the channel: above the accepted
 * amount, within the deposit. (The minimum delta is verification's rule,
 * checked against the state the voucher was verified against: `session/verify.ts`.)
 */
export function acceptVoucher(state: ChannelState, voucher: AcceptedVoucher, options: { now: number }): ChannelState {
  assertUsable(state)
  if (voucher.amount <= state.acceptedCumulative) {
    throw new PaymentError(
      'mpp_payment_verification_failed',
      `The voucher amount must exceed the accepted cumulative amount ${state.acceptedCumulative}.`,
      { extensions: { channelId: state.channelId, acceptedCumulative: state.acceptedCumulative } },
    )
  }
  assertWithinDeposit(state, voucher.amount)
  const ahead = state.vouchers.filter((v) => v.amount > state.spent)
  const behind = state.vouchers.filter((v) => v.amount <= state.spent).slice(-1)
  return {
    ...state,
    acceptedCumulative: voucher.amount,
    acceptedAt: options.now,
    vouchers: [...behind, ...ahead.slice(-(maxVouchersAhead - 1)), voucher],
  }
}

/** A voucher amount above the deposit asks the payer to top up first (an `InsufficientAuthorization` the deposit cannot cover). */
export function assertWithinDeposit(state: ChannelState, amount: bigint): void {
  if (amount > state.deposit) throw new InsufficientAuthorization(state, amount)
}

/** Drops reservations whose lifetime ended: a crashed request never locks funds. */
export function withoutExpired(state: ChannelState, now: number): ChannelState {
  const live = Object.entries(state.reservations).filter(([, reservation]) => reservation.expiresAt > now)
  if (live.length === Object.keys(state.reservations).length) return state
  return { ...state, reservations: Object.fromEntries(live) }
}

/** Cumulative amount the channel must have accepted to also cover `amount`. */
export const requiredCumulative = (state: ChannelState, amount: bigint) => state.spent + reservedOf(state) + amount

/**
 * What to ask the payer to sign: `required` rounded up to a whole bucket, so one
 * voucher pays for many requests, but never above `ceiling` (the deposit).
 */
export function bucketed(required: bigint, bucketSize: bigint, ceiling?: bigint): bigint {
  const rounded = ((required + bucketSize - 1n) / bucketSize) * bucketSize
  return ceiling !== undefined && rounded > ceiling ? ceiling : rounded
}

/**
 * Holds `amount` for one request. Throws when the accepted vouchers do not
 * cover it; the caller turns that into the right client action.
 */
export function reserve(state: ChannelState, id: string, amount: bigint, expiresAt: number, now: number): ChannelState {
  const current = withoutExpired(state, now)
  assertUsable(current)
  const required = requiredCumulative(current, amount)
  if (required > current.acceptedCumulative) throw new InsufficientAuthorization(current, required)
  return { ...current, activeAt: now, reservations: { ...current.reservations, [id]: { amount, expiresAt } } }
}

/**
 * Thrown by `reserve` and `assertWithinDeposit`: the cumulative amount the
 * channel would need (`required`), against its accepted vouchers and deposit;
 * the engine turns it into what the client must do (sign further, or top up).
 */
export class InsufficientAuthorization extends Error {
  override name = 'InsufficientAuthorization'
  constructor(
    readonly state: ChannelState,
    readonly required: bigint,
  ) {
    super('the accepted vouchers or the deposit do not cover the request')
  }
}

/**
 * Charges `actual`, capped at what was reserved, and frees the reservation. A
 * reservation that already expired is charged only if the accepted vouchers
 * still cover it.
 */
export function commit(state: ChannelState, id: string, actual: bigint, now: number): { state: ChannelState; charged: bigint } {
  const reservation = state.reservations[id]
  const floor = actual < 0n ? 0n : actual
  const charged = reservation !== undefined && reservation.amount < floor ? reservation.amount : floor
  const current = release(withoutExpired(state, now), id)
  const live = reservation !== undefined && reservation.expiresAt > now
  if (!live && requiredCumulative(current, charged) > current.acceptedCumulative) {
    throw new PaymentError('mpp_commit_failed', 'The reservation expired before the response was ready; nothing was charged.')
  }
  const spent = current.spent + charged
  const unsettledSince = current.unsettledSince ?? (spent > current.settled ? now : undefined)
  return { state: { ...current, spent, activeAt: now, ...(unsettledSince === undefined ? {} : { unsettledSince }) }, charged }
}

/**
 * Charges `amount` for content about to be delivered (a metered stream's
 * window): `spent` grows now, taken from reservation `id` as far as it holds
 * and from the available balance beyond it. The reservation stays (its
 * lifetime renewed to `expiresAt`) for the next window. Throws
 * `InsufficientAuthorization` when the accepted vouchers cannot cover it.
 */
export function chargeWindow(state: ChannelState, id: string, amount: bigint, expiresAt: number, now: number): ChannelState {
  const current = withoutExpired(state, now)
  assertUsable(current)
  const held = current.reservations[id]?.amount ?? 0n
  const fromReservation = held < amount ? held : amount
  const beyond = amount - fromReservation
  const required = requiredCumulative(current, beyond)
  if (required > current.acceptedCumulative) throw new InsufficientAuthorization(current, required)
  return {
    ...current,
    spent: current.spent + amount,
    reservations: { ...current.reservations, [id]: { amount: held - fromReservation, expiresAt } },
  }
}

/**
 * Ends a metered stream: its total charge becomes `actual` (what was
 * delivered, by the upstream's count) instead of the `charged` windows, and
 * its reservation is freed. Windows are charged ahead of delivery, so usually
 * `actual ≤ charged` and the unused part of the last window is given back
 * (never below `settled`: what settled on chain stays spent). Above `charged`
 * it takes what the available balance (the freed reservation included) covers.
 */
export function endStream(
  state: ChannelState,
  id: string,
  charged: bigint,
  actual: bigint,
  now: number,
): { state: ChannelState; charged: bigint } {
  const current = release(withoutExpired(state, now), id)
  if (actual <= charged) {
    const refundable = current.spent - current.settled
    const wanted = charged - actual
    const refund = wanted < refundable ? wanted : refundable
    return { state: { ...current, spent: current.spent - refund }, charged: charged - refund }
  }
  // The freed reservation is part of the available balance again.
  const available = current.acceptedCumulative - current.spent - reservedOf(current)
  const wanted = actual - charged
  const extra = wanted < available ? wanted : available
  return { state: { ...current, spent: current.spent + extra }, charged: charged + extra }
}

/** Frees a reservation without charging. */
export function release(state: ChannelState, id: string): ChannelState {
  if (!(id in state.reservations)) return state
  const { [id]: _, ...others } = state.reservations
  return { ...state, reservations: others }
}

/** The voucher a settlement may use: the highest accepted one not above `spent`. */
export function settleableVoucher(state: ChannelState): AcceptedVoucher | undefined {
  return state.vouchers.filter((voucher) => voucher.amount <= state.spent && voucher.amount > state.settled).at(-1)
}

/** Checks `spent + reserved ≤ acceptedCumulative ≤ deposit`; a violation is a bug, never a client error. */
export function assertInvariant(state: ChannelState): void {
  const reserved = reservedOf(state)
  if (!(state.spent + reserved <= state.acceptedCumulative && state.acceptedCumulative <= state.deposit)) {
    throw new PaymentError('mpp_internal_error', 'Channel accounting invariant violated.', {
      cause: new Error(`spent ${state.spent} + reserved ${reserved} ≤ accepted ${state.acceptedCumulative} ≤ deposit ${state.deposit}`),
    })
  }
}
