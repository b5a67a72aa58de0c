import { type ErrorCode, type ErrorSpec, errorCodes } from './codes.js'

/** Values a client needs to recover (`requiredCumulative`, `deposit`, `channelId`, …). Amounts as bigint. */
export type ProblemExtensions = Record<string, string | number | boolean | bigint>

export type PaymentErrorOptions = {
  /** Extension members of the problem body. */
  extensions?: ProblemExtensions
  /** Seconds for `Retry-After`, overriding the table's default for the code. */
  retryAfter?: number
  /** A more specific problem type than the table's, where the contract allows one (e.g. `session/signer-mismatch`). */
  problemType?: string
  cause?: unknown
}

/**
 * The typed error every payment failure is thrown as. `code` selects the row of
 * the error table (status, problem type, retryable, challenge); the middleware
 * renders it into the one envelope. `detail` is shown to the client: it must
 * never contain a credential, signature, secret or request content.
 */
export class PaymentError extends Error {
  override name = 'PaymentError'
  readonly code: ErrorCode
  readonly detail: string
  readonly extensions: ProblemExtensions
  readonly retryAfter: number | undefined
  readonly problemType: string | undefined

  constructor(code: ErrorCode, detail: string, options: PaymentErrorOptions = {}) {
    super(`${code}: ${detail}`, { cause: options.cause })
    this.code = code
    this.detail = detail
    this.extensions = options.extensions ?? {}
    const spec: ErrorSpec = errorCodes[code]
    this.retryAfter = options.retryAfter ?? spec.retryAfter
    this.problemType = options.problemType
  }

  /** The stand-in for anything unexpected: a fixed text, so no message, stack or secret reaches the client. */
  static internal(cause?: unknown): PaymentError {
    return new PaymentError('mpp_internal_error', 'An unexpected error occurred. Retry with backoff and quote the request id.', { cause })
  }
}
