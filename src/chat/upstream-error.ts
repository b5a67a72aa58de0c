import type { ErrorSpec } from '../errors/codes.js'
import { ProblemError } from '../errors/payment-error.js'
import type { Problem } from '../errors/problem.js'

export type UpstreamErrorCode =
  | 'upstream_unavailable'
  | 'upstream_timeout'
  | 'upstream_rate_limited'
  | 'upstream_invalid_response'
  | 'upstream_aborted'
  | `upstream_${number}`

export type UpstreamErrorFields = {
  code: UpstreamErrorCode
  /** Our HTTP status for the response. */
  status: number
  retryable: boolean
  /** Shown to the client: short, actionable, never upstream body text, the prompt or a key. */
  detail: string
  /** Seconds for `Retry-After`. */
  retryAfter?: number | undefined
  /** The status the upstream answered with, when it answered at all. */
  upstreamStatus?: number | undefined
  /** The upstream's own error code (`context_length_exceeded`, …) when it is a plain identifier. */
  upstreamCode?: string | undefined
  /** The network error, for operators; it never holds headers or bodies. */
  cause?: unknown
}

/**
 * An inference failure, normalised to the `upstream_*` codes of the error
 * contract. It is a `ProblemError` carrying its own spec, so a route handler
 * can simply rethrow it: the payment middleware renders the envelope and
 * releases the reservation.
 */
export class UpstreamError extends ProblemError {
  override name = 'UpstreamError'
  declare readonly code: UpstreamErrorCode
  readonly status: number
  readonly retryable: boolean
  readonly upstreamStatus: number | undefined
  readonly upstreamCode: string | undefined

  constructor(fields: UpstreamErrorFields) {
    const { retryAfter, cause } = fields
    super(fields.code, upstreamErrorSpec(fields), fields.detail, { cause, ...(retryAfter === undefined ? {} : { retryAfter }) })
    this.status = fields.status
    this.retryable = fields.retryable
    this.upstreamStatus = fields.upstreamStatus
    this.upstreamCode = fields.upstreamCode
  }

  /** The caller's signal fired: the paying client went away before the upstream answered. */
  static aborted(): UpstreamError {
    return new UpstreamError({
      code: 'upstream_aborted',
      status: 499,
      retryable: true,
      detail: 'The request was cancelled before the upstream answered. Nothing was charged.',
    })
  }
}

/** The error-table row of an upstream failure (also the `spec` every {@link UpstreamError} carries). */
export function upstreamErrorSpec(error: Pick<UpstreamErrorFields, 'code' | 'status' | 'retryable' | 'retryAfter'>): ErrorSpec {
  const row = { status: error.status, retryable: error.retryable, challenge: false }
  switch (error.code) {
    case 'upstream_unavailable':
      return { ...row, type: 'upstream-unavailable', title: 'Upstream Unavailable', errorType: 'upstream_error' }
    case 'upstream_timeout':
      return { ...row, type: 'upstream-timeout', title: 'Upstream Timeout', errorType: 'timeout_error' }
    case 'upstream_rate_limited':
      return {
        ...row,
        type: 'upstream-rate-limited',
        title: 'Upstream Rate Limited',
        errorType: 'rate_limit_error',
        retryAfter: error.retryAfter ?? 1,
      }
    case 'upstream_invalid_response':
      return { ...row, type: 'upstream-error', title: 'Invalid Upstream Response', errorType: 'upstream_error' }
    case 'upstream_aborted':
      return { ...row, type: 'upstream-error', title: 'Request Aborted', errorType: 'upstream_error' }
    default:
      return { ...row, type: 'upstream-error', title: 'Upstream Error', errorType: 'upstream_error' }
  }
}

/** Everything `problemResponse(problem, context)` needs to render an {@link UpstreamError}. */
export function upstreamProblem(error: UpstreamError): Problem {
  return { code: error.code, spec: error.spec, detail: error.detail, retryAfter: error.retryAfter }
}
