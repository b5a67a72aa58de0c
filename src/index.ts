// Wire formats of the Payment HTTP authentication scheme (pure functions).

// The client side of a session.
export { type ClientChannel, type SessionClientOptions, sessionClient } from './client/session-client.js'
// The error contract.
export { type ErrorCode, type ErrorSpec, errorCodes, isErrorCode, problemTypeBase } from './errors/codes.js'
export {
  PaymentError,
  type PaymentErrorOptions,
  ProblemError,
  type ProblemErrorOptions,
  type ProblemExtensions,
} from './errors/payment-error.js'
export { evmChain, tempoChain } from './escrow/chain.js'
export type { Escrow, EscrowCall, OnChainChannel } from './escrow/port.js'
export { type ViemEscrowOptions, viemEscrow } from './escrow/viem-escrow.js'
export { paymentErrorHandler } from './middleware/error-handler.js'
export { consoleLogger, type PaymentLogEntry, type PaymentLogger } from './middleware/logger.js'
export type { Authorization, AuthorizeParameters, PaymentLogFields, PaymentMethod } from './middleware/method.js'
// The Hono middleware and the port a payment method implements.
export { type PaymentOptions, type PaymentVariables, payment, type SecretKey } from './middleware/payment.js'
export { base64url } from './protocol/base64url.js'
export { bodyDigest, verifyBodyDigest } from './protocol/body-digest.js'
export { canonicalJson } from './protocol/canonical-json.js'
export { Challenge, type ChallengeBinding, computeChallengeId, type JsonObject } from './protocol/challenge.js'
export { Credential, maxCredentialLength } from './protocol/credential.js'
export { Receipt } from './protocol/receipt.js'
export { timingSafeEqual } from './protocol/timing-safe-equal.js'
export { WireError, type WireErrorKind } from './protocol/wire-error.js'
export type { AcceptedVoucher, ChannelState, Reservation } from './session/channel.js'
// The Tempo session intent: engine, pricing, ports and adapters.
export { type SessionPayment, type TempoSessionOptions, tempoSession } from './session/method.js'
export { fixedPrice, type Pricing, type Quote } from './session/pricing.js'
export { canonicalSignature, recoverVoucherSigner, signVoucher, voucherDomain, voucherTypes } from './session/voucher.js'
export { memoryStore } from './store/memory.js'
export type { ChannelUpdate, SessionStore } from './store/port.js'

// Durable stores on PostgreSQL: a server through `pg` (several instances), or PGlite in process (the embedded default).
export {
  type PgliteStoreOptions,
  type PostgresStoreOptions,
  pgliteStore,
  postgresStore,
  type SqlSessionStore,
  type SqlStoreOptions,
} from './store/postgres.js'
