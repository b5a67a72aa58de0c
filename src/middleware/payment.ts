import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import { HTTPException } from 'hono/http-exception'
import { PaymentError, ProblemError } from '../errors/payment-error.js'
import { errorResponse as renderProblem } from '../errors/problem.js'
import { formatAuthParam } from '../protocol/auth-params.js'
import { base64url } from '../protocol/base64url.js'
import { bodyDigest, verifyBodyDigest } from '../protocol/body-digest.js'
import { Challenge, computeChallengeId } from '../protocol/challenge.js'
import { Credential } from '../protocol/credential.js'
import { randomBytes } from '../protocol/random.js'
import { Receipt } from '../protocol/receipt.js'
import { timingSafeEqual } from '../protocol/timing-safe-equal.js'
import { WireError } from '../protocol/wire-error.js'
import { memoryStore } from '../store/memory.js'
import type { SessionStore } from '../store/port.js'
import { consoleLogger, type PaymentLogEntry, type PaymentLogger } from './logger.js'
import type { Authorization, PaymentLogFields, PaymentMethod } from './method.js'
import { resolveRequestId } from './request-id.js'

export type SecretKey = string | Uint8Array

/**
 * `response` with `headers` set: in place when its headers can change (a
 * response the handler made: on @hono/node-server it then keeps its direct
 * write path, where a copy would turn its body into a stream), else on a copy
 * (a fetched response's headers are immutable).
 */
function withHeaders(response: Response, headers: Record<string, string>): Response {
  try {
    for (const name in headers) response.headers.set(name, headers[name]!)
    return response
  } catch (error) {
    if (!(error instanceof TypeError)) throw error
    const copy = new Headers(response.headers)
    for (const name in headers) copy.set(name, headers[name]!)
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers: copy })
  }
}

export type PaymentOptions<TPayment> = {
  /** Protection space named in every challenge, e.g. the API's host name. */
  realm: string
  /**
   * Challenge-binding secret, at least 32 bytes. A list rotates keys: the first
   * signs new challenges, every one verifies, so challenges issued under the
   * previous key stay valid until they expire.
   */
  secretKey: SecretKey | readonly SecretKey[]
  /** The payment method that prices challenges and judges credentials. */
  method: PaymentMethod<TPayment>
  /**
   * Where used challenge ids are recorded: a credential pays for one response.
   * Default: this process's memory; share one store across instances.
   */
  challenges?: Pick<SessionStore, 'consumeChallenge'>
  /** Seconds a challenge stays valid. Default 300. */
  challengeTtl?: number
  /** Receives one entry per decided request. Default: JSON lines on the console. */
  logger?: PaymentLogger
  /** Clock in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number
}

export type PaymentVariables<TPayment> = {
  /** The verified payment, for the handler behind the middleware. */
  payment: TPayment
  /** This request's id, also sent as `X-Request-Id`. */
  requestId: string
}

const minimumSecretBytes = 32
const paymentScheme = /^payment(?: |$)/i

/**
 * Puts a route behind the Payment HTTP authentication scheme: answers an unpaid
 * request with `402` and a bound challenge, verifies a paid retry (binding,
 * realm, route, expiry, body digest), lets the method judge the payload, runs
 * the handler, commits and attaches `Payment-Receipt`. Every failure is one
 * `application/problem+json` envelope (`shared/design/errors.md`).
 *
 * @param options.realm protection space named in challenges
 * @param options.secretKey challenge-binding secret(s), ≥ 32 bytes each; the first signs
 * @param options.method the payment method (e.g. the Tempo session engine)
 * @param options.challengeTtl challenge lifetime in seconds (default 300)
 * @param options.logger structured log sink (default JSON lines on the console)
 *
 * @example
 * const app = new Hono()
 * app.post('/paid', payment({ realm: 'api.example.com', secretKey, method }), (c) => c.json({ ok: true }))
 * export default app
 */
export function payment<TPayment>(options: PaymentOptions<TPayment>) {
  const { realm, method } = options
  const secretKeys = (Array.isArray(options.secretKey) ? options.secretKey : [options.secretKey]).map((key: SecretKey) =>
    typeof key === 'string' ? new TextEncoder().encode(key) : key,
  )
  const challengeTtl = options.challengeTtl ?? 300
  const logger = options.logger ?? consoleLogger
  const now = options.now ?? Date.now
  const challenges = options.challenges ?? memoryStore({ now })

  if (secretKeys.length === 0 || secretKeys.some((key) => key.length < minimumSecretBytes)) {
    throw new Error(`payment(): every secretKey must be at least ${minimumSecretBytes} bytes`)
  }
  if (!realm) throw new Error('payment(): realm is required')
  formatAuthParam('realm', realm) // fails at boot, not on the first request, if a header cannot carry it
  if (!/^[a-z]+$/.test(method.name)) throw new Error('payment(): method.name must be lowercase ASCII letters')
  if (!Number.isInteger(challengeTtl) || challengeTtl <= 0) throw new Error('payment(): challengeTtl must be a positive integer')

  // Every unpaid request is answered with this error: made once, not per request (capturing a stack is not free).
  const paymentRequired = new PaymentError(
    'payment_required',
    'Payment is required. Pay the challenge in WWW-Authenticate and retry the identical request.',
  )

  // The route a challenge pays for; bound through `opaque`.
  const routeOf = (c: Context) => `${c.req.method} ${c.req.path}`

  // A challenge's `expires`, whole seconds: the same string for every challenge issued in one second, so made once.
  let expiry = { second: Number.NaN, expires: '' }
  const expiresFor = (second: number) => {
    if (expiry.second !== second) expiry = { second, expires: new Date((second + challengeTtl) * 1000).toISOString().replace('.000Z', 'Z') }
    return expiry.expires
  }

  async function issueChallenge(c: Context, body: Uint8Array, credential: Credential | undefined) {
    const expires = expiresFor(Math.floor(now() / 1000))
    const challenge = Challenge.create({
      secretKey: secretKeys[0]!,
      realm,
      method: method.name,
      intent: method.intent,
      request: await method.challengeRequest(c, credential),
      expires,
      digest: body.length > 0 ? bodyDigest(body) : undefined,
      // The nonce makes every challenge unique, so single use is per issuance, not per (body, second).
      opaque: { route: routeOf(c), nonce: base64url.encode(randomBytes(12)) },
    })
    return { header: Challenge.format(challenge), id: challenge.id }
  }

  function parseCredential(headerValue: string) {
    try {
      return Credential.parse(headerValue)
    } catch (error) {
      if (error instanceof WireError) throw new PaymentError('mpp_malformed_credential', `Malformed payment credential: ${error.message}.`)
      throw error
    }
  }

  // Everything method-independent about a credential, in the order of
  // `shared/design/flow.md`; the method then judges the payload.
  async function authorize(
    c: Context,
    header: string,
    body: Uint8Array,
    presented: { credential?: Credential },
  ): Promise<Authorization<TPayment>> {
    const credential = parseCredential(header)
    presented.credential = credential
    const { challenge } = credential
    if (challenge.method !== method.name || challenge.intent !== method.intent) {
      throw new PaymentError('mpp_method_unsupported', `This route accepts ${method.name}/${method.intent} payments only.`)
    }
    const bound = secretKeys.map((secretKey) => timingSafeEqual(computeChallengeId({ secretKey, ...challenge }), challenge.id))
    if (!bound.includes(true)) throw new PaymentError('mpp_invalid_challenge', 'The challenge was not issued by this server.')
    if (challenge.realm !== realm) throw new PaymentError('mpp_invalid_challenge', 'The challenge is for another realm.')
    if (Challenge.opaque(challenge)?.route !== routeOf(c)) {
      throw new PaymentError('mpp_invalid_challenge', 'The challenge was issued for another route.')
    }
    if (challenge.expires === undefined || Date.parse(challenge.expires) <= now()) {
      throw new PaymentError('mpp_invalid_challenge', 'The challenge has expired. Use the fresh challenge in WWW-Authenticate.')
    }
    const digestMatches = challenge.digest === undefined ? body.length === 0 : verifyBodyDigest(challenge.digest, body)
    if (!digestMatches) {
      throw new PaymentError(
        'mpp_body_digest_mismatch',
        'The request body does not match the digest bound into the challenge. Retry with the identical body.',
      )
    }
    const expiresAt = Date.parse(challenge.expires)
    const consumeChallenge = async () => {
      if (!(await challenges.consumeChallenge(challenge.id, expiresAt))) {
        throw new PaymentError('mpp_invalid_challenge', 'The challenge was already used. Use the fresh challenge in WWW-Authenticate.')
      }
    }
    return method.authorize({ credential, request: Challenge.request(challenge), context: c, consumeChallenge })
  }

  // Renders any failure as the envelope; codes that carry a challenge get a fresh one.
  async function errorResponse(
    c: Context,
    requestId: string,
    error: unknown,
    body: Uint8Array | undefined,
    credential: Credential | undefined,
  ): Promise<{ response: Response; failure: ProblemError }> {
    const failure = error instanceof ProblemError ? error : PaymentError.internal(error)
    let challenge: { header: string; id: string } | undefined
    if (failure.spec.challenge) {
      try {
        if (body === undefined) throw new Error('request body unavailable')
        challenge = await issueChallenge(c, body, credential)
      } catch (challengeError) {
        // A request that cannot be priced is answered with why (e.g. mpp_request_quote_invalid), not a challenge.
        const reason =
          challengeError instanceof ProblemError && !challengeError.spec.challenge ? challengeError : PaymentError.internal(challengeError)
        return errorResponse(c, requestId, reason, body, credential)
      }
    }
    return { response: renderProblem(failure, { requestId, challenge }), failure }
  }

  return createMiddleware<{ Variables: PaymentVariables<TPayment> }>(async function paymentMiddleware(c, next) {
    const startedAt = now()
    const requestId = resolveRequestId(c.req.header('X-Request-Id'))
    c.set('requestId', requestId)
    let fields: PaymentLogFields | undefined
    let body: Uint8Array | undefined
    let releaseError: unknown
    const presented: { credential?: Credential } = {}

    /**
     * Makes `response` the answer, with `X-Request-Id` and `extraHeaders` set. A
     * problem response rendered here already carries the request id and is used
     * as it is (`rendered`).
     */
    const finish = (response: Response, code: string, error?: unknown, extraHeaders?: Record<string, string>, rendered = false) => {
      // Replace rather than assign over: Hono would copy the old response's headers onto the new one.
      c.res = undefined
      c.res = rendered ? response : withHeaders(response, { ...extraHeaders, 'X-Request-Id': requestId })
      const entry: PaymentLogEntry = {
        requestId,
        route: routeOf(c),
        status: response.status,
        code,
        method: method.name,
        intent: method.intent,
        durationMs: now() - startedAt,
      }
      if (fields?.channelId !== undefined) entry.channelId = fields.channelId
      if (fields?.amounts !== undefined) {
        entry.amounts = Object.fromEntries(Object.entries(fields.amounts).map(([name, amount]) => [name, amount.toString()]))
      }
      const unexpected = [error, releaseError].find((cause) => cause !== undefined && !(cause instanceof ProblemError))
      if (unexpected !== undefined) entry.error = unexpected instanceof Error ? unexpected.name : typeof unexpected
      logger(entry)
    }
    const fail = async (error: unknown) => {
      const { response, failure } = await errorResponse(c, requestId, error, body, presented.credential)
      finish(response, failure.code, failure.cause ?? error, undefined, true)
    }
    // A failed release is logged, not surfaced: the reservation expires on its own.
    const release = async (reservation: { release(): Promise<void> }) => {
      try {
        await reservation.release()
      } catch (error) {
        releaseError = error
      }
    }

    try {
      body = new Uint8Array(await c.req.arrayBuffer())
    } catch (error) {
      return fail(error)
    }
    const header = c.req.header('Authorization')
    // No Payment credential: the challenge, without a throw through the verification path.
    if (header === undefined || !paymentScheme.test(header)) return fail(paymentRequired)
    let authorization: Authorization<TPayment>
    try {
      authorization = await authorize(c, header, body, presented)
    } catch (error) {
      return fail(error)
    }
    fields = authorization.log

    if (authorization.kind === 'replay') return finish(authorization.response, 'replayed')
    if (authorization.kind === 'respond') {
      const headers = { 'Payment-Receipt': Receipt.format(authorization.receipt), 'Cache-Control': 'private' }
      return finish(new Response(null, { status: authorization.status, headers }), 'paid')
    }

    c.set('payment', authorization.payment)
    await next()

    // A handler that threw or answered with an error is not charged and gets no receipt.
    if (c.error !== undefined || c.res.status >= 400) {
      await release(authorization)
      if (c.error !== undefined && !(c.error instanceof HTTPException)) return fail(c.error)
      return finish(c.res, c.error instanceof ProblemError ? c.error.code : 'released')
    }

    let committed: Awaited<ReturnType<typeof authorization.commit>>
    try {
      committed = await authorization.commit(c)
    } catch (error) {
      // The content is withheld: nothing may be delivered that was not charged.
      await release(authorization)
      return fail(
        error instanceof ProblemError
          ? error
          : new PaymentError('mpp_commit_failed', 'Paid usage could not be committed; nothing was charged. Retry the same request.', {
              cause: error,
            }),
      )
    }
    fields = { ...fields, ...committed.log, amounts: { ...fields?.amounts, ...committed.log?.amounts } }
    finish(c.res, 'paid', undefined, { 'Payment-Receipt': Receipt.format(committed.receipt), 'Cache-Control': 'private' })
  })
}
