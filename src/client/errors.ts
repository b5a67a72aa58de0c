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

export class SessionClientError extends Error {
  override name = 'SessionClientError'
  readonly code: SessionClientErrorCode
  /** The HTTP status of a refusal, when the server answered. */
  readonly status: number | undefined

  constructor(code: SessionClientErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.code = code
    this.status = options.status
  }
}
