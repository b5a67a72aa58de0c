import { type ErrorCode, type ErrorSpec, errorCodes } from './codes.js'

/** Values a client needs to recover (`requiredCumulative`, `deposit`, `channelId`, …). Amounts as bigint. */
export type ProblemExtensions = Record<string, string | number | boolean | bigint>

export type ProblemErrorOptions = {
  /** Extension members of the problem body. */
  extensions?: ProblemExtensions
  /** Seconds for `Retry-After`, overriding the spec's default. */
  retryAfter?: number
  /** Operator events for the request's log line (`PaymentLogEntry.events`); never shown to the client. */
  events?: readonly string[]
  cause?: unknown
}

export type PaymentErrorOptions = ProblemErrorOptions & {
  /** A more specific problem type than the table's, where the contract allows one (e.g. `session/signer-mismatch`). */
  problemType?: string
}

/**
 * An error the middleware renders into the envelope: a `code` and the `spec`
 * of its status, problem type, `retryable` and challenge. `detail` is shown to
 * the client: it must never contain a credential, signature, secret or
 * request content.
 */
export class ProblemError extends Error {
  override name = 'ProblemError'
  readonly code: string
  readonly spec: ErrorSpec
  readonly detail: string
  readonly extensions: ProblemExtensions
  readonly retryAfter: number | undefined
  readonly events: readonly string[]

  constructor(code: string, spec: ErrorSpec, detail: string, options: ProblemErrorOptions = {}) {
    super(`${code}: ${detail}`, { cause: options.cause })
    this.code = code
    this.spec = spec
    this.detail = detail
    this.extensions = options.extensions ?? {}
    this.retryAfter = options.retryAfter ?? spec.retryAfter
    this.events = options.events ?? []
  }
}

/** A payment failure: `code` selects its row of the error table (`docs/errors.md`). */
export class PaymentError extends ProblemError {
  override name = 'PaymentError'
  declare readonly code: ErrorCode

  constructor(code: ErrorCode, detail: string, options: PaymentErrorOptions = {}) {
    const spec: ErrorSpec = errorCodes[code]
    super(code, options.problemType === undefined ? spec : { ...spec, type: options.problemType }, detail, options)
  }

  /** The stand-in for anything unexpected: a fixed text, so no message, stack or secret reaches the client. */
  static internal(cause?: unknown): PaymentError {
    return new PaymentError('mpp_internal_error', 'An unexpected error occurred. Retry with backoff and quote the request id.', { cause })
  }
}
