// Wire formats of the Payment HTTP authentication scheme (pure functions).
export { base64url } from './protocol/base64url.js'
export { bodyDigest, verifyBodyDigest } from './protocol/body-digest.js'
export { canonicalJson } from './protocol/canonical-json.js'
export { Challenge, computeChallengeId, type ChallengeBinding, type JsonObject } from './protocol/challenge.js'
export { Credential, maxCredentialLength } from './protocol/credential.js'
export { Receipt } from './protocol/receipt.js'
export { timingSafeEqual } from './protocol/timing-safe-equal.js'
export { WireError, type WireErrorKind } from './protocol/wire-error.js'

// The error contract.
export { errorCodes, isErrorCode, problemTypeBase, type ErrorCode, type ErrorSpec } from './errors/codes.js'
export { PaymentError, ProblemError, type PaymentErrorOptions, type ProblemErrorOptions, type ProblemExtensions } from './errors/payment-error.js'

// The Hono middleware and the port a payment method implements.
export { payment, type PaymentOptions, type PaymentVariables, type SecretKey } from './middleware/payment.js'
export type { Authorization, AuthorizeParameters, PaymentLogFields, PaymentMethod } from './middleware/method.js'
export { paymentErrorHandler } from './middleware/error-handler.js'
export { consoleLogger, type PaymentLogEntry, type PaymentLogger } from './middleware/logger.js'

// The Tempo session intent: engine, pricing, ports and adapters.
export { tempoSession, type SessionPayment, type TempoSessionOptions } from './session/method.js'
export { fixedPrice, type Pricing, type Quote } from './session/pricing.js'
export type { ChannelState, AcceptedVoucher, Reservation } from './session/channel.js'
export { canonicalSignature, recoverVoucherSigner, signVoucher, voucherDomain, voucherTypes } from './session/voucher.js'
export type { Escrow, EscrowCall, OnChainChannel } from './escrow/port.js'
export { viemEscrow, type ViemEscrowOptions } from './escrow/viem-escrow.js'
export { evmChain, tempoChain } from './escrow/chain.js'
export type { ChannelUpdate, SessionStore } from './store/port.js'
export { memoryStore } from './store/memory.js'

// The client side of a session.
export { sessionClient, type ClientChannel, type SessionClientOptions } from './client/session-client.js'

// Durable stores on PostgreSQL: a server through `pg` (several instances), or PGlite in process (the embedded default).
export { pgliteStore, postgresStore, type PgliteStoreOptions, type PostgresStoreOptions, type SqlSessionStore, type SqlStoreOptions } from './store/postgres.js'
