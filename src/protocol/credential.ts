import { z } from 'zod'
import { base64url } from './base64url.js'
import { canonicalJson } from './canonical-json.js'
import { assertChallenge, Challenge, type CredentialHeader, type JsonObject } from './challenge.js'
import { WireError } from './wire-error.js'

/** A Payment credential (in `Authorization` or `Payment-Authorization`): the echoed challenge, a method-specific payload, an optional payer id. */
export type Credential = {
  challenge: Challenge
  payload: JsonObject
  /** Payer identifier, e.g. `did:pkh:eip155:<chainId>:<address>`. */
  source?: string
}

/** Largest credential field value accepted, so a credential's cost is bounded before decoding. */
export const maxCredentialLength = 16 * 1024

/**
 * What a request's credential fields hold, for a route whose challenges select
 * the field `selected` (draft-httpauth-payment-02 §Credentials).
 */
export type CredentialLookup =
  /** Neither field carries a Payment credential. */
  | { kind: 'none' }
  /** The one Payment credential, from the selected field, and its echoed challenge selects that field too. */
  | { kind: 'found'; credential: Credential }
  /**
   * The one Payment credential is in `field`, but its challenge selects `selected`
   * (the route's field, or the echoed challenge's when that differs): it MUST NOT
   * satisfy the challenge.
   */
  | { kind: 'misplaced'; field: CredentialHeader; selected: CredentialHeader }
  /** Both fields carry one: draft-02 says a server SHOULD answer 400. */
  | { kind: 'several' }

/** Headers as a Fetch `Headers` reads them. */
export type HeaderReader = { get(name: string): string | null }

const credentialHeaders: readonly CredentialHeader[] = ['Authorization', 'Payment-Authorization']
// A field carries a Payment credential when its value starts with the scheme:
// RFC 9110 gives one credentials per field, so a value starting with another
// scheme is that scheme's.
const paymentScheme = /^Payment(?: |$)/i
const scheme = /^Payment +([A-Za-z0-9_-]+)$/i
const optionalString = z.string().optional()
// Unknown members are dropped (draft-httpauth-payment: unknown fields are ignored).
const credentialSchema = z.object({
  challenge: z.object({
    id: z.string(),
    realm: z.string(),
    method: z.string(),
    intent: z.string(),
    request: z.string(),
    expires: optionalString,
    digest: optionalString,
    description: optionalString,
    header: optionalString,
    opaque: optionalString,
  }),
  payload: z.record(z.string(), z.unknown()),
  source: z.string().min(1).optional(),
})

function malformed(message: string, cause?: unknown): never {
  throw new WireError('credential', message, { cause })
}

// zod leaves absent optionals out, which exactOptionalPropertyTypes wants explicit.
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, member]) => member !== undefined)) as T
}

export const Credential = {
  /** The credential field value (`Authorization` or `Payment-Authorization`, the same format): `Payment <base64url(JCS JSON)>`. */
  format(credential: Credential): string {
    assertChallenge(credential.challenge, 'credential')
    return `Payment ${base64url.encode(canonicalJson(credential))}`
  },

  /**
   * Parses a credential field value strictly: at most
   * {@link maxCredentialLength} characters, one base64url token without padding,
   * UTF-8 JSON matching the credential schema, an echoed challenge that obeys the
   * challenge rules. Throws a `WireError` of kind `credential`, which a server
   * answers with `mpp_malformed_credential`.
   */
  parse(headerValue: string): Credential {
    if (headerValue.length > maxCredentialLength) malformed(`credential is larger than ${maxCredentialLength} bytes`)
    const token = scheme.exec(headerValue)?.[1]
    if (token === undefined) malformed('expected "Payment" followed by one base64url token without padding')
    let json: unknown
    try {
      json = JSON.parse(base64url.decodeText(token))
    } catch (cause) {
      malformed('credential is not base64url-encoded UTF-8 JSON', cause)
    }
    const result = credentialSchema.safeParse(json)
    if (!result.success) malformed('credential does not match the credential schema', result.error)
    const credential: Credential = {
      challenge: withoutUndefined(result.data.challenge) as Challenge,
      payload: result.data.payload,
    }
    if (result.data.source !== undefined) credential.source = result.data.source
    assertChallenge(credential.challenge, 'credential')
    return credential
  },

  /**
   * The request's credential for a route whose challenges select the field
   * `selected`, read only from that field: a Payment credential in the other
   * field is `misplaced` (and not parsed), and so is one whose echoed challenge
   * selects the other field. A malformed credential in the selected field throws
   * like `parse`.
   */
  fromHeaders(headers: HeaderReader, selected: CredentialHeader): CredentialLookup {
    const fields = credentialHeaders.filter((name) => paymentScheme.test(headers.get(name) ?? ''))
    if (fields.length === 0) return { kind: 'none' }
    if (fields.length > 1) return { kind: 'several' }
    const field = fields[0]!
    if (field !== selected) return { kind: 'misplaced', field, selected }
    const credential = Credential.parse(headers.get(field)!)
    const echoed = Challenge.credentialHeader(credential.challenge)
    return echoed === field ? { kind: 'found', credential } : { kind: 'misplaced', field, selected: echoed }
  },
}
