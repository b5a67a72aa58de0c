import { formatAuthParam, parseAuthChallenges } from './auth-params.js'
import { base64url } from './base64url.js'
import { canonicalJson, isCanonicalizable } from './canonical-json.js'
import { hmacSha256 } from './hash.js'
import { rfc3339Instant } from './timestamp.js'
import { WireError } from './wire-error.js'

/**
 * The request fields a Payment credential can travel in: `Authorization` by
 * default, `Payment-Authorization` when the challenge's `header` parameter selects
 * it, so `Authorization` stays free for ordinary authentication
 * (draft-httpauth-payment-02 §Credentials).
 */

/**
 * The request header by which a client asks that its paid answer carry, in `WWW-Authenticate`, the challenge
 * for its next request on the route (README: one round trip per paid request). Any value.
 */
export const nextChallengeHeader = 'MPP-Next-Challenge'
export type CredentialHeader = 'Authorization' | 'Payment-Authorization'

/**
 * A `WWW-Authenticate: Payment` challenge, with every parameter as it is on the
 * wire: `request` and `opaque` stay base64url(JCS JSON) strings, because the
 * challenge binding and the credential's echo are over exactly those strings.
 */
export type Challenge = {
  id: string
  realm: string
  /** Payment method identifier, lowercase ASCII letters. */
  method: string
  intent: string
  /** base64url(JCS(request JSON)). */
  request: string
  /** RFC 3339 date-time. */
  expires?: string
  /** RFC 9530 digest of the request body, `sha-256=:…:`. */
  digest?: string
  description?: string
  /** Present when the credential must travel in `Payment-Authorization`, the one value draft-02 allows. */
  header?: 'Payment-Authorization'
  /** base64url(JCS(flat string map)). */
  opaque?: string
}

/** A JSON object. */
export type JsonObject = { [key: string]: unknown }

export type ChallengeBinding = {
  secretKey: Uint8Array | string
  realm: string
  method: string
  intent: string
  /** The request object (JCS-serialised and encoded here) or its wire string. */
  request: JsonObject | string
  expires?: string | undefined
  digest?: string | undefined
  /** The credential's field; `Authorization`, the default, is not bound (nor sent). */
  header?: CredentialHeader | undefined
  /** The opaque map (JCS-serialised and encoded here) or its wire string. */
  opaque?: Record<string, string> | string | undefined
}

const methodPattern = /^[a-z]+$/
const intentPattern = /^[A-Za-z0-9-]+$/
const encodeJson = (value: JsonObject | string) => (typeof value === 'string' ? value : base64url.encode(canonicalJson(value)))

// A route's request terms repeat from challenge to challenge (same price, same
// payee): their encoding is looked up by their JSON text, which is cheaper to
// make than JCS. Values JCS accepts and whose JSON text is the same have the same JCS.
const encodedRequests = new Map<string, string>()
const maxEncodedRequests = 1_024
function encodeRequest(value: JsonObject | string): string {
  if (typeof value === 'string') return value
  if (!isCanonicalizable(value)) return encodeJson(value) // throws the WireError saying why
  const text = JSON.stringify(value)
  let encoded = encodedRequests.get(text)
  if (encoded === undefined) {
    encoded = encodeJson(value)
    if (encodedRequests.size >= maxEncodedRequests) encodedRequests.clear()
    encodedRequests.set(text, encoded)
  }
  return encoded
}
const utf8 = new TextEncoder()

/**
 * The HMAC-SHA256 challenge binding of draft-httpauth-payment-02 §Challenge
 * Binding: `realm|method|intent|request|expires|digest|opaque`, absent optional
 * slots empty, MAC'd with the server secret and base64url-encoded. A challenge
 * selecting `Payment-Authorization` has that value in one more slot, before
 * `opaque`; one without `header` keeps the seven slots of draft-00.
 */
export function computeChallengeId(binding: ChallengeBinding): string {
  const slots = [binding.realm, binding.method, binding.intent, encodeRequest(binding.request), binding.expires ?? '', binding.digest ?? '']
  // Before `opaque`, as mppx 0.11 and the mpp-tools conformance vectors bind it;
  // draft-02's prose appends it after `opaque` instead (they disagree; the vectors decide).
  if (binding.header === 'Payment-Authorization') slots.push(binding.header)
  slots.push(binding.opaque === undefined ? '' : encodeJson(binding.opaque))
  const key = typeof binding.secretKey === 'string' ? utf8.encode(binding.secretKey) : binding.secretKey
  return base64url.encode(hmacSha256(key, slots.join('|')))
}

// Parses a base64url(JSON object) parameter; `what` names it in the error.
function decodeJsonObject(value: string, what: string, kind: 'challenge' | 'credential'): JsonObject {
  let parsed: unknown
  try {
    parsed = JSON.parse(base64url.decodeText(value))
  } catch (cause) {
    throw new WireError(kind, `${what} is not base64url-encoded JSON`, { cause })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new WireError(kind, `${what} is not a JSON object`)
  }
  return parsed as JsonObject
}

/**
 * Checks the rules every Payment challenge obeys wherever it appears (header or
 * a credential's echo): required parameters present and non-empty, method
 * lowercase, `request` a base64url JSON object, `opaque` a base64url flat string
 * map, `expires` an RFC 3339 date-time, `header` absent or `Payment-Authorization`
 * (draft-02: a client treats any other value as an unrecognized challenge).
 * Throws a `WireError` of `kind`.
 */
export function assertChallenge(challenge: Challenge, kind: 'challenge' | 'credential' = 'challenge'): void {
  for (const name of ['id', 'realm', 'method', 'intent', 'request'] as const) {
    if (typeof challenge[name] !== 'string' || challenge[name] === '') {
      throw new WireError(kind, `challenge parameter "${name}" is missing or empty`)
    }
  }
  if (!methodPattern.test(challenge.method)) throw new WireError(kind, 'challenge method must be lowercase ASCII letters')
  if (!intentPattern.test(challenge.intent)) throw new WireError(kind, 'challenge intent is not a valid intent token')
  decodeJsonObject(challenge.request, 'challenge request', kind)
  if (challenge.opaque !== undefined) {
    const opaque = decodeJsonObject(challenge.opaque, 'challenge opaque', kind)
    if (!Object.values(opaque).every((value) => typeof value === 'string')) {
      throw new WireError(kind, 'challenge opaque must be a flat string-to-string map')
    }
  }
  if (challenge.expires !== undefined && rfc3339Instant(challenge.expires) === undefined) {
    throw new WireError(kind, 'challenge expires is not an RFC 3339 date-time')
  }
  if (challenge.header !== undefined && challenge.header !== 'Payment-Authorization') {
    throw new WireError(kind, 'challenge header is not "Payment-Authorization"')
  }
}

const parameterOrder = ['id', 'realm', 'method', 'intent', 'request', 'expires', 'digest', 'description', 'header', 'opaque'] as const
const encodedByCreate = new Set<string>(['id', 'request', 'opaque'])

/**
 * Challenges `create` made from a request object (and an opaque map): they obey
 * `assertChallenge` by construction and are frozen, so `format` need not decode
 * them again.
 */
const wellFormed = new WeakSet<Challenge>()
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

function isWellFormedByConstruction(challenge: Challenge, binding: ChallengeBinding): boolean {
  if (!isPlainObject(binding.request)) return false
  if (
    binding.opaque !== undefined &&
    !(isPlainObject(binding.opaque) && Object.values(binding.opaque).every((value) => typeof value === 'string'))
  )
    return false
  if (
    !(['id', 'realm', 'method', 'intent', 'request'] as const).every(
      (name) => typeof challenge[name] === 'string' && challenge[name] !== '',
    )
  )
    return false
  if (!methodPattern.test(challenge.method) || !intentPattern.test(challenge.intent)) return false
  return challenge.expires === undefined || rfc3339Instant(challenge.expires) !== undefined
}

function fromParams(params: Map<string, string>): Challenge {
  const challenge: Partial<Record<(typeof parameterOrder)[number], string>> = {}
  // Unknown parameters are ignored (draft-httpauth-payment §5.1.2).
  for (const name of parameterOrder) {
    const value = params.get(name)
    if (value !== undefined) challenge[name] = value
  }
  assertChallenge(challenge as Challenge)
  return challenge as Challenge
}

export const Challenge = {
  /**
   * Creates a bound challenge: encodes `request` and `opaque` with JCS and
   * base64url and computes `id` with the secret. A well-formed result is
   * frozen: its parameters are the bound ones.
   */
  create(binding: ChallengeBinding & { description?: string | undefined }): Challenge {
    // Encoded once: the binding and the parameters are the same strings.
    const request = encodeRequest(binding.request)
    const opaque = binding.opaque === undefined ? undefined : encodeJson(binding.opaque)
    const challenge: Challenge = {
      id: computeChallengeId({ ...binding, request, opaque }),
      realm: binding.realm,
      method: binding.method,
      intent: binding.intent,
      request,
    }
    if (binding.expires !== undefined) challenge.expires = binding.expires
    if (binding.digest !== undefined) challenge.digest = binding.digest
    if (binding.description !== undefined) challenge.description = binding.description
    if (binding.header === 'Payment-Authorization') challenge.header = binding.header
    if (opaque !== undefined) challenge.opaque = opaque
    if (isWellFormedByConstruction(challenge, binding)) wellFormed.add(Object.freeze(challenge))
    return challenge
  },

  /** The `WWW-Authenticate` field value: `Payment id="…", realm="…", …`. */
  format(challenge: Challenge): string {
    const created = wellFormed.has(challenge)
    if (!created) assertChallenge(challenge)
    let header = 'Payment '
    for (const name of parameterOrder) {
      const value = challenge[name]
      if (value === undefined) continue
      // What `create` encoded is base64url, which a quoted-string carries as it is.
      const param = created && encodedByCreate.has(name) ? `${name}="${value}"` : formatAuthParam(name, value)
      header += header.length === 8 ? param : `, ${param}`
    }
    return header
  },

  /**
   * Parses the one Payment challenge of a `WWW-Authenticate` value, skipping
   * other schemes. None, several (use `parseAll`), or a malformed one throws a
   * `WireError`.
   */
  parse(headerValue: string): Challenge {
    const challenges = Challenge.parseAll(headerValue)
    if (challenges.length !== 1) throw new WireError('challenge', `expected one Payment challenge, found ${challenges.length}`)
    return challenges[0]!
  },

  /**
   * Parses every Payment challenge of a `WWW-Authenticate` value (several
   * challenges in one value, or several header lines joined with `, `),
   * skipping other schemes. None, or any malformed one, throws a `WireError`.
   */
  parseAll(headerValue: string): Challenge[] {
    const challenges = parseAuthChallenges(headerValue)
      .filter((challenge) => challenge.scheme.toLowerCase() === 'payment')
      .map((challenge) => {
        if (challenge.token68 !== undefined) throw new WireError('challenge', 'a Payment challenge takes auth-params, not token68')
        return fromParams(challenge.params)
      })
    if (challenges.length === 0) throw new WireError('challenge', 'no Payment challenge in the field value')
    return challenges
  },

  /** The field a challenge selects for its credential: `Payment-Authorization` when its `header` says so, else `Authorization`. */
  credentialHeader(challenge: Challenge): CredentialHeader {
    return challenge.header ?? 'Authorization'
  },

  /** The decoded `request` object of a (validated) challenge. */
  request(challenge: Challenge): JsonObject {
    return decodeJsonObject(challenge.request, 'challenge request', 'challenge')
  },

  /** The decoded `opaque` map of a (validated) challenge, if it has one. */
  opaque(challenge: Challenge): Record<string, string> | undefined {
    return challenge.opaque === undefined
      ? undefined
      : (decodeJsonObject(challenge.opaque, 'challenge opaque', 'challenge') as Record<string, string>)
  },
}
