import type { Address, Hex } from 'viem'
import type { ChannelDescriptor } from './v2/descriptor.js'

/**
 * A channel as the escrow contract stores it (`getChannel`). Addresses lowercase.
 * The deployed v1 escrow deletes a closed channel and keeps only `finalized`: such
 * a channel reads with `finalized` true and every other field zero. The v2
 * precompile keeps no flag: a closed channel reads as one never opened (see
 * `Escrow.getChannel`); its parties come from the descriptor.
 */
export type OnChainChannel = {
  payer: Address
  payee: Address
  token: Address
  /** Zero address: the payer signs vouchers itself. */
  authorizedSigner: Address
  deposit: bigint
  settled: bigint
  /** Unix seconds of a pending forced close; 0n when none. */
  closeRequestedAt: bigint
  finalized: boolean
}

/** What a client-signed transaction does to the escrow, decoded and checked to call this escrow. */
export type EscrowCall =
  | {
      kind: 'open'
      /** The transaction's recovered sender: the channel's payer. */
      payer: Address
      payee: Address
      token: Address
      deposit: bigint
      salt: Hex
      authorizedSigner: Address
      /** Computed locally from the arguments, the escrow address and the chain id. */
      channelId: Hex
      /** v2: the channel's descriptor, `expiringNonceHash` computed from this transaction. Absent for v1. */
      descriptor?: ChannelDescriptor
    }
  | {
      kind: 'topUp'
      /** The transaction's recovered sender (the contract only lets the payer top up). */
      sender: Address
      channelId: Hex
      additionalDeposit: bigint
      /** v2: the descriptor the topUp names (its id is `channelId`). Absent for v1. */
      descriptor?: ChannelDescriptor
    }

/**
 * What the payee's settle/close transactions pay their fee with, read from the
 * chain: the token (on Tempo, the TIP-20 token the chain takes the fee in) or
 * the native coin (a standard EVM chain), the payee's balance in it, and what
 * one settle or close needs at current fees (its gas limit × maxFeePerGas, in
 * the same unit).
 */
export type PayeeFees = {
  /** The payee's address (lowercase): the sender of settle and close. */
  address: Address
  /** The fee token (lowercase), or `native` for the chain's own coin. */
  token: Address | 'native'
  /** The payee's balance in it, in base units (wei for `native`). */
  balance: bigint
  /** What one settle or close needs at current fees, in the same unit. */
  needed: bigint
}

/**
 * The payee cannot pay a settle or close transaction's fee (`fees.balance <
 * fees.needed`): nothing was sent, and retrying cannot succeed until the payee
 * is funded. The cause of the `mpp_session_close_unavailable` such a
 * transaction fails with. Its message names the address, token and amounts
 * (public facts), never a key.
 */
export class FeeShortfallError extends Error {
  override name = 'FeeShortfallError'
  readonly fees: PayeeFees

  constructor(fees: PayeeFees, what: string) {
    const unit = fees.token === 'native' ? 'of the native coin' : `of token ${fees.token}`
    super(`the payee ${fees.address} cannot pay the ${what}'s fee: it holds ${fees.balance} ${unit} and needs about ${fees.needed}`)
    this.fees = fees
  }
}

/**
 * The chain's base fee and the payee's tip are above the payee's fee cap: the
 * settle or close was not sent. A spike of the base fee passes, so this is
 * the cause of a retryable `mpp_session_close_failed`.
 */
export class FeeCapError extends Error {
  override name = 'FeeCapError'

  constructor(
    readonly baseFeePerGas: bigint,
    readonly maxPriorityFeePerGas: bigint,
    readonly maxFeePerGas: bigint,
  ) {
    super(
      `the chain's base fee (${baseFeePerGas} per gas) and tip (${maxPriorityFeePerGas}) are above the payee's fee cap (${maxFeePerGas} per gas)`,
    )
  }
}

/**
 * What a v2 payee close captures: `captureAmount` (= max(spent, settled)) out of
 * a voucher for `cumulativeAmount` ≥ it; the payer gets the rest of the deposit.
 */
export type V2Close = { descriptor: ChannelDescriptor; captureAmount: bigint }

/**
 * The session engine's view of the chain: one escrow deployment on one chain.
 * v1 (the `TempoStreamChannel` contract) addresses a channel by its id alone;
 * v2 (the TIP-20 channel reserve precompile) needs the channel's descriptor on
 * every call after the open, so its adapter refuses a settle/close without one.
 * Implementations throw `PaymentError`s: `mpp_chain_unavailable` when the RPC
 * fails or times out (nothing was accepted), `mpp_payment_verification_failed`
 * for a transaction that does not do what it must or reverts.
 */
export interface Escrow {
  /** The escrow contract (lowercase). */
  readonly address: Address
  readonly chainId: number
  /**
   * Reads a channel; `undefined` when it never existed. v1: a closed one reads as
   * finalized. v2 (`descriptor` required, its id checked against `channelId`):
   * the precompile deletes a closed channel, so `undefined` means "not open" —
   * never opened or closed — and only the store, which holds the channels it
   * saw open, tells the two apart.
   */
  getChannel(channelId: Hex, descriptor?: ChannelDescriptor): Promise<OnChainChannel | undefined>
  /**
   * Decodes a client-signed transaction, Tempo `0x76` or EIP-1559, into the one
   * `open` or `topUp` call it makes on this escrow. A `0x76` open may approve the
   * escrow on the token first; anything else (another contract, another
   * function, several escrow calls, a wrong chain id) is rejected.
   */
  decodeTransaction(serialized: Hex): Promise<EscrowCall>
  /**
   * Broadcasts a client-signed transaction and waits for its receipt; a revert is rejected. One the chain
   * would not execute now (revert, out of gas, nonce, fee, validity window) is rejected before it is sent.
   */
  broadcast(serialized: Hex): Promise<{ txHash: Hex }>
  /** Whether a payee key is configured to send `settle` and `close`. */
  readonly canSubmit: boolean
  /**
   * Reads what the payee pays settle/close fees with and whether it covers one
   * (`PayeeFees`); `undefined` when no payee key is configured. `mpp_chain_unavailable`
   * when the chain cannot be read.
   */
  payeeFees(): Promise<PayeeFees | undefined>
  /**
   * Sends `settle(channelId, cumulativeAmount, signature)` (v2: `settle(descriptor, …)`, `descriptor` required) with the payee key and waits for success.
   * A payee that cannot pay the fee fails with `mpp_session_close_unavailable` caused by a
   * `FeeShortfallError`, before anything is sent (or when the node refuses it for that).
   */
  settle(channelId: Hex, cumulativeAmount: bigint, signature: Hex, descriptor?: ChannelDescriptor): Promise<{ txHash: Hex }>
  /**
   * Sends `close` with the payee key and waits for success; fees as for `settle`.
   * v1 `close(channelId, cumulativeAmount, signature)` pays the voucher's whole
   * amount; v2 (`v2` required) `close(descriptor, cumulativeAmount, captureAmount, signature)`.
   */
  close(channelId: Hex, cumulativeAmount: bigint, signature: Hex, v2?: V2Close): Promise<{ txHash: Hex }>
  /**
   * What became of a payee transaction whose confirmation timed out (`settle` and `close` then fail with
   * `mpp_chain_unavailable` carrying its `txHash`): mined (`success`, `reverted`), still waiting in the
   * node's pool (`pending`), or unknown to the node (dropped, or not yet propagated).
   */
  transactionStatus(txHash: Hex): Promise<'success' | 'reverted' | 'pending' | 'unknown'>
}
