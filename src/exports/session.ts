// `mpp-session-gateway/session`: the Tempo session engine, its ports (the
// channel store, the rate-limit store, the escrow, the close watcher's event
// source and cursor store) with the types an adapter needs, the close watcher,
// the v1 escrow adapter over viem, the in-memory store, the v1 voucher functions
// and the secp256k1 backends they recover on.

// Adapters.
export { type EvmChainOptions, evmChain, type TempoChainOptions, tempoChain } from '../escrow/chain.js'
export { decodeEscrowTransaction, type EscrowTarget } from '../escrow/transaction.js'
export { type ViemEscrowOptions, viemEscrow } from '../escrow/viem-escrow.js'
export {
  type BackendName,
  type BackendSelection,
  BackendUnavailableError,
  backendNames,
  InvalidSignatureError,
  type RecoveryBackend,
  selectRecoveryBackend,
  UnrecoverableSignatureError,
} from '../secp256k1/index.js'
export type { AcceptedVoucher, ChannelState, Reservation } from '../session/channel.js'
export * as Channel from '../session/channel.js'
export type { CloseEvent, CloseEventSource, CursorStore } from '../session/close-events.js'
export {
  type CloseWatcher,
  type CloseWatcherOptions,
  type CloseWatchLine,
  type CloseWatchStep,
  closeWatcher,
} from '../session/close-watch.js'
export { type TempoSession, tempoSession } from '../session/engine.js'
export type { Escrow, EscrowCall, OnChainChannel } from '../session/escrow.js'
export type { CloseFollowUp } from '../session/forced-close.js'
export type { TempoSessionOptions } from '../session/options.js'
export type { SessionPayment } from '../session/payment.js'
export type { RateLimitStore } from '../session/rate-limit.js'
export type { SettleOutcome } from '../session/settlement.js'
export type { ChannelStore, ChannelUpdate, CompletedRequest, IdempotencyRecord, StoredResponse } from '../session/store.js'
export { type ChannelIdParameters, computeChannelId } from '../session/v1/channel-id.js'
export { parseSessionPayload, type SessionPayload } from '../session/v1/payload.js'
export {
  canonicalSignature,
  recoverVoucherSigner,
  signVoucher,
  type Voucher,
  type VoucherContext,
  voucherDigest,
  voucherDomain,
  voucherTypes,
} from '../session/v1/voucher.js'
export { decodeChannel, type EncodedChannel, encodeChannel } from '../stores/codec.js'
export { type MemoryStoreOptions, memoryStore } from '../stores/memory.js'
export type { SessionStore } from '../stores/store.js'
