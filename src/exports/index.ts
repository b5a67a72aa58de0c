// `mpp-session-gateway`: the Hono middleware, the framework-free Payment
// handler and the ports a payment method implements, the wire functions and
// the error contract.

// The error contract.
export { type ErrorCode, type ErrorSpec, errorCodes, isErrorCode, problemTypeBase } from '../errors/codes.js'
export { ConfigError } from '../errors/config-error.js'
export {
  PaymentError,
  type PaymentErrorOptions,
  ProblemError,
  type ProblemErrorOptions,
  type ProblemExtensions,
} from '../errors/payment-error.js'
// The Hono middleware.
export { type ClientAddress, cloudflareAddress, forwardedAddress, socketAddress } from '../middleware/client-address.js'
export { paymentErrorHandler } from '../middleware/error-handler.js'
export { type PaidContext, type PaymentOptions, type PaymentVariables, payment } from '../middleware/payment.js'
// The Payment scheme on the server, framework-free, and its ports.
export type { ChallengeStore } from '../payment/challenge-store.js'
export {
  type HandlerResult,
  type PaymentHandlerOptions,
  type PaymentOutcome,
  paymentHandler,
  type SecretKey,
} from '../payment/handler.js'
export { consoleLogger, type PaymentLogEntry, type PaymentLogger } from '../payment/logger.js'
export type {
  Authorization,
  AuthorizeParameters,
  ChallengeParameters,
  PaymentLogFields,
  PaymentMethod,
  Served,
} from '../payment/method.js'
export { type Cost, fixedPrice, type Pricing, type Quote } from '../payment/pricing.js'
export type { PaidRequest } from '../payment/request.js'
// Wire formats of the Payment HTTP authentication scheme (pure functions).
export { base64url } from '../protocol/base64url.js'
export { bodyDigest, verifyBodyDigest } from '../protocol/body-digest.js'
export { canonicalJson } from '../protocol/canonical-json.js'
export { Challenge, type ChallengeBinding, computeChallengeId, type JsonObject } from '../protocol/challenge.js'
export { Credential, maxCredentialLength } from '../protocol/credential.js'
export { Receipt } from '../protocol/receipt.js'
export { sourceAddress } from '../protocol/source.js'
export { timingSafeEqual } from '../protocol/timing-safe-equal.js'
export { WireError, type WireErrorKind } from '../protocol/wire-error.js'
