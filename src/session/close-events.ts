// The ports of the close watcher (close-watch.ts): where it reads a payer's
// forced-close requests (the escrow's events, implemented over viem in
// escrow/close-events.ts) and where it remembers how far it has read (the
// store; every store adapter implements it).
import type { Address, Hex } from 'viem'

/** One of the escrow's close events for our payee, in chain order by (`blockNumber`, `logIndex`). */
export type CloseEvent = {
  /** `requested`: the payer called `requestClose` (`CloseRequested`); `cancelled`: a `topUp` cancelled it (`CloseRequestCancelled`). */
  kind: 'requested' | 'cancelled'
  channelId: Hex
  blockNumber: bigint
  logIndex: number
}

/**
 * The escrow's close events. Implementations throw `mpp_chain_unavailable`
 * when the RPC fails or times out.
 */
export interface CloseEventSource {
  /** The escrow contract (lowercase). */
  readonly address: Address
  readonly chainId: number
  /** The chain's latest block number. */
  latestBlock(): Promise<bigint>
  /** The `CloseRequested` and `CloseRequestCancelled` events naming `payee` in blocks `fromBlock` to `toBlock` (both included), in chain order. */
  closeEvents(payee: Address, fromBlock: bigint, toBlock: bigint): Promise<CloseEvent[]>
}

/**
 * Named block cursors kept in the store: how far a watcher has handled the
 * chain, shared by every instance on the store, so a restarted or another
 * instance resumes there.
 */
export interface CursorStore {
  /** The last block handled under `name`; `undefined` before the first advance. */
  readCursor(name: string): Promise<bigint | undefined>
  /**
   * Moves `name` to `block` unless it is already there or further (never
   * back), atomically: instances advancing at once leave the furthest block.
   */
  advanceCursor(name: string, block: bigint): Promise<void>
}
