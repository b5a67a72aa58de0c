/** What a wire value failed to be. */
export type WireErrorKind = 'base64url' | 'canonical-json' | 'challenge' | 'credential' | 'receipt' | 'body-digest' | 'session-snapshot'

/**
 * The one error the pure wire functions throw for input they reject. Callers switch
 * on `kind`, never on the message. A server maps a failed credential to
 * `mpp_malformed_credential` (see `Credential.parse`).
 */
export class WireError extends Error {
  override name = 'WireError'
  readonly kind: WireErrorKind

  constructor(kind: WireErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.kind = kind
  }
}
