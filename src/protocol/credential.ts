import { z } from 'zod'
import { base64url } from './base64url.js'
import { canonicalJson } from './canonical-json.js'
import { assertChallenge, type Challenge, type JsonObject } from './challenge.js'
import { WireError } from './wire-error.js'

/** An `Authorization: Payment` credential: the echoed challenge, a method-specific payload, an optional payer id. */
export type Credential = {
  challenge: Challenge
  payload: JsonObject
  /** Payer identifier, e.g. `did:pkh:eip155:<chainId>:<address>`. */
  source?: string
}

/** Largest `Authorization` value accepted, so a credential's cost is bounded before decoding. */
export const maxCredentialLength = 16 * 1024

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
  /** The `Authorization` field value: `Payment <base64url(JCS JSON)>`. */
  format(credential: Credential): string {
    assertChallenge(credential.challenge, 'credential')
    return `Payment ${base64url.encode(canonicalJson(credential))}`
  },

  /**
   * Parses an `Authorization: Payment` value strictly: at most
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
}
