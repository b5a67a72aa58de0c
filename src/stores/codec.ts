import type { Hex } from 'viem'
import type { ChannelState } from '../session/channel.js'

/** A channel state as JSON can carry it: every amount a decimal string. */
export type EncodedChannel = Omit<
  ChannelState,
  'deposit' | 'settled' | 'closeRequestedAt' | 'acceptedCumulative' | 'spent' | 'vouchers' | 'reservations' | 'pendingTransaction'
> & {
  deposit: string
  settled: string
  closeRequestedAt: string
  acceptedCumulative: string
  spent: string
  vouchers: { amount: string; signature: Hex }[]
  reservations: Record<string, { amount: string; expiresAt: number }>
  pendingTransaction?: { kind: 'settle' | 'close'; txHash: Hex; amount: string; sentAt: number }
}

/** For stores that keep JSON (Postgres `jsonb`, Durable Object storage): amounts as decimal strings, exact. */
export function encodeChannel(state: ChannelState): EncodedChannel {
  const { pendingTransaction, ...rest } = state
  return {
    ...rest,
    ...(pendingTransaction === undefined
      ? {}
      : { pendingTransaction: { ...pendingTransaction, amount: pendingTransaction.amount.toString() } }),
    deposit: state.deposit.toString(),
    settled: state.settled.toString(),
    closeRequestedAt: state.closeRequestedAt.toString(),
    acceptedCumulative: state.acceptedCumulative.toString(),
    spent: state.spent.toString(),
    vouchers: state.vouchers.map((voucher) => ({ amount: voucher.amount.toString(), signature: voucher.signature })),
    reservations: Object.fromEntries(
      Object.entries(state.reservations).map(([id, r]) => [id, { amount: r.amount.toString(), expiresAt: r.expiresAt }]),
    ),
  }
}

export function decodeChannel(encoded: EncodedChannel): ChannelState {
  const { pendingTransaction, ...rest } = encoded
  return {
    ...rest,
    ...(pendingTransaction === undefined
      ? {}
      : { pendingTransaction: { ...pendingTransaction, amount: BigInt(pendingTransaction.amount) } }),
    deposit: BigInt(encoded.deposit),
    settled: BigInt(encoded.settled),
    closeRequestedAt: BigInt(encoded.closeRequestedAt),
    acceptedCumulative: BigInt(encoded.acceptedCumulative),
    spent: BigInt(encoded.spent),
    vouchers: encoded.vouchers.map((voucher) => ({ amount: BigInt(voucher.amount), signature: voucher.signature })),
    reservations: Object.fromEntries(
      Object.entries(encoded.reservations).map(([id, r]) => [id, { amount: BigInt(r.amount), expiresAt: r.expiresAt }]),
    ),
  }
}
