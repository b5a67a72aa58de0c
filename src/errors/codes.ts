/**
 * The error contract (`docs/errors.md`) as one table. The set of codes is
 * closed: a client's `switch` on `code` stays finite.
 */
export const problemTypeBase = 'https://paymentauth.org/problems/'

export type ErrorSpec = {
  /** HTTP status of the response. */
  readonly status: number
  /** Problem type, relative to {@link problemTypeBase}. */
  readonly type: string
  /** RFC 9457 `title`: the same for every occurrence of the code. */
  readonly title: string
  /** The client's one switch: can the same request succeed later (or after the action `detail` names)? */
  readonly retryable: boolean
  /** Whether the response carries a fresh `WWW-Authenticate: Payment` challenge. */
  readonly challenge: boolean
  /** `error.type` of the OpenAI-style half of the envelope. */
  readonly errorType: string
  /** Seconds for `Retry-After`, for the codes that always carry one. */
  readonly retryAfter?: number
}

export const errorCodes = {
  payment_required: {
    status: 402,
    type: 'payment-required',
    title: 'Payment Required',
    retryable: true,
    challenge: true,
    errorType: 'payment_required',
  },
  mpp_malformed_credential: {
    status: 402,
    type: 'malformed-credential',
    title: 'Malformed Credential',
    retryable: false,
    challenge: true,
    errorType: 'payment_required',
  },
  mpp_method_unsupported: {
    status: 400,
    type: 'method-unsupported',
    title: 'Payment Method Unsupported',
    retryable: false,
    challenge: true,
    errorType: 'invalid_request_error',
  },
  mpp_invalid_challenge: {
    status: 402,
    type: 'invalid-challenge',
    title: 'Invalid Challenge',
    retryable: true,
    challenge: true,
    errorType: 'payment_required',
  },
  mpp_challenge_expired: {
    status: 402,
    type: 'payment-expired',
    title: 'Challenge Expired',
    retryable: true,
    challenge: true,
    errorType: 'payment_required',
  },
  mpp_multiple_credentials: {
    status: 400,
    type: 'bad-request',
    title: 'Multiple Credentials',
    retryable: false,
    challenge: false,
    errorType: 'invalid_request_error',
  },
  mpp_body_digest_mismatch: {
    status: 402,
    type: 'verification-failed',
    title: 'Body Digest Mismatch',
    retryable: false,
    challenge: true,
    errorType: 'payment_required',
  },
  mpp_request_quote_invalid: {
    status: 400,
    type: 'bad-request',
    title: 'Request Quote Invalid',
    retryable: false,
    challenge: false,
    errorType: 'invalid_request_error',
  },
  mpp_request_exceeds_voucher_bucket: {
    status: 402,
    type: 'session/insufficient-balance',
    title: 'Request Exceeds Voucher Bucket',
    retryable: true,
    challenge: true,
    errorType: 'payment_required',
  },
  mpp_voucher_bucket_refresh_required: {
    status: 402,
    type: 'session/insufficient-balance',
    title: 'Voucher Bucket Refresh Required',
    retryable: true,
    challenge: true,
    errorType: 'payment_required',
  },
  mpp_voucher_exceeds_exposure_limit: {
    status: 402,
    type: 'verification-failed',
    title: 'Voucher Exceeds Exposure Limit',
    retryable: true,
    challenge: true,
    errorType: 'payment_required',
  },
  mpp_session_deposit_below_request_cost: {
    status: 402,
    type: 'session/amount-exceeds-deposit',
    title: 'Session Deposit Below Request Cost',
    retryable: true,
    challenge: true,
    errorType: 'payment_required',
  },
  mpp_payment_verification_failed: {
    status: 402,
    type: 'verification-failed',
    title: 'Payment Verification Failed',
    retryable: false,
    challenge: true,
    errorType: 'payment_required',
  },
  mpp_payer_not_allowed: {
    status: 403,
    type: 'payer-not-allowed',
    title: 'Payer Not Allowed',
    retryable: false,
    challenge: false,
    errorType: 'permission_error',
  },
  mpp_channel_not_found: {
    status: 410,
    type: 'session/channel-not-found',
    title: 'Channel Not Found',
    retryable: false,
    challenge: false,
    errorType: 'invalid_request_error',
  },
  mpp_channel_finalized: {
    status: 410,
    type: 'session/channel-finalized',
    title: 'Channel Finalized',
    retryable: false,
    challenge: false,
    errorType: 'invalid_request_error',
  },
  mpp_rate_limited: {
    status: 429,
    type: 'rate-limited',
    title: 'Rate Limited',
    retryable: true,
    challenge: false,
    errorType: 'rate_limit_error',
    retryAfter: 1,
  },
  mpp_reservation_failed: {
    status: 503,
    type: 'reservation-failed',
    title: 'Reservation Failed',
    retryable: true,
    challenge: false,
    errorType: 'server_error',
    retryAfter: 1,
  },
  mpp_commit_failed: {
    status: 503,
    type: 'commit-failed',
    title: 'Commit Failed',
    retryable: true,
    challenge: false,
    errorType: 'server_error',
    retryAfter: 1,
  },
  mpp_session_close_unavailable: {
    status: 503,
    type: 'session-close-unavailable',
    title: 'Session Close Unavailable',
    retryable: false,
    challenge: false,
    errorType: 'server_error',
    retryAfter: 60,
  },
  mpp_session_close_failed: {
    status: 502,
    type: 'session-close-failed',
    title: 'Session Close Failed',
    retryable: true,
    challenge: false,
    errorType: 'server_error',
  },
  mpp_streaming_unavailable: {
    status: 400,
    type: 'streaming-unavailable',
    title: 'Streaming Unavailable',
    retryable: false,
    challenge: false,
    errorType: 'invalid_request_error',
  },
  mpp_chain_unavailable: {
    status: 503,
    type: 'chain-unavailable',
    title: 'Chain Unavailable',
    retryable: true,
    challenge: false,
    errorType: 'server_error',
    retryAfter: 2,
  },
  model_not_found: {
    status: 404,
    type: 'model-not-found',
    title: 'Model Not Found',
    retryable: false,
    challenge: false,
    errorType: 'invalid_request_error',
  },
  not_found: {
    status: 404,
    type: 'not-found',
    title: 'Not Found',
    retryable: false,
    challenge: false,
    errorType: 'invalid_request_error',
  },
  method_not_allowed: {
    status: 405,
    type: 'method-not-allowed',
    title: 'Method Not Allowed',
    retryable: false,
    challenge: false,
    errorType: 'invalid_request_error',
  },
  request_timeout: {
    status: 408,
    type: 'request-timeout',
    title: 'Request Timeout',
    retryable: true,
    challenge: false,
    errorType: 'invalid_request_error',
  },
  payload_too_large: {
    status: 413,
    type: 'payload-too-large',
    title: 'Payload Too Large',
    retryable: false,
    challenge: false,
    errorType: 'invalid_request_error',
  },
  headers_too_large: {
    status: 431,
    type: 'request-header-fields-too-large',
    title: 'Request Header Fields Too Large',
    retryable: false,
    challenge: false,
    errorType: 'invalid_request_error',
  },
  bad_request: {
    status: 400,
    type: 'bad-request',
    title: 'Bad Request',
    retryable: false,
    challenge: false,
    errorType: 'invalid_request_error',
  },
  mpp_internal_error: {
    status: 500,
    type: 'internal-error',
    title: 'Internal Error',
    retryable: true,
    challenge: false,
    errorType: 'server_error',
  },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof errorCodes

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(errorCodes, value)
}
