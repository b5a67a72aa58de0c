/** Why the session client stopped: callers switch on `code`, never on the message. */
export type SessionClientErrorCode =
  /** The server answered without the `tempo`/`session` challenge the client needs. */
  | 'challenge_missing'
  /** Paying would sign above the channel's deposit or the configured `maxCumulative`. */
  | 'limit_exceeded'
  /** No deposit is configured and the challenge suggests none. */
  | 'deposit_unknown'
  /** No channel is open with this payee yet (topUp/close before any payment). */
  | 'channel_missing'
  /** The server reports more spent than this client ever authorized. */
  | 'server_overreport'
  /** The server refused a management action (topUp, close). */
  | 'refused'
  /** A transaction the client had to send on its own (an EIP-1559 approve) reverted. */
  | 'transaction_reverted'
  /**
   * The server still refused payment (`402`) when the client could do no more: a refusal
   * that is not retryable with nothing new to send, or its rounds without progress used up.
   */
  | 'payment_refused'
  /**
   * The server still answered `429` or `503` when the client stopped waiting: its retries
   * used up, a `Retry-After` longer than it waits, none given, or a refusal not retryable.
   */
  | 'retry_exhausted'

export class SessionClientError extends Error {
  override name = 'SessionClientError'
  readonly code: SessionClientErrorCode
  /** The HTTP status of a refusal, when the server answered. */
  readonly status: number | undefined
  /** The `code` of the server's problem (e.g. `mpp_rate_limited`), when it sent one. */
  readonly problemCode: string | undefined
  /** The server's `Retry-After`, in seconds, when it sent one. */
  readonly retryAfter: number | undefined
  /** The server's last answer (its body unread), when the client gave up on one. */
  readonly response: Response | undefined

  constructor(
    code: SessionClientErrorCode,
    message: string,
    options: { status?: number; problemCode?: string; retryAfter?: number; response?: Response; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause })
    this.code = code
    this.status = options.status
    this.problemCode = options.problemCode
    this.retryAfter = options.retryAfter
    this.response = options.response
  }
}
