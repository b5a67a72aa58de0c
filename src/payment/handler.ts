// The Payment HTTP authentication scheme on the server, framework-free: a
// Fetch `Request` and its body bytes in, a `Response` (or "serve, then
// complete") out. The Hono middleware (src/middleware/payment.ts) is glue over
// this; any other framework can use it the same way.
import { z } from 'zod'
import { parseConfig } from '../errors/config-error.js'
import { PaymentError, ProblemError } from '../errors/payment-error.js'
import { errorResponse as renderProblem } from '../errors/problem.js'
import { AcceptPayment } from '../protocol/accept-payment.js'
import { formatAuthParam } from '../protocol/auth-params.js'
import { base64url } from '../protocol/base64url.js'
import { bodyDigest, verifyBodyDigest } from '../protocol/body-digest.js'
import { Challenge, type CredentialHeader, computeChallengeId, nextChallengeHeader } from '../protocol/challenge.js'
import { Credential } from '../protocol/credential.js'
import { randomBytes } from '../protocol/random.js'
import { Receipt } from '../protocol/receipt.js'
import { rfc3339Instant } from '../protocol/timestamp.js'
import { timingSafeEqual } from '../protocol/timing-safe-equal.js'
import { WireError } from '../protocol/wire-error.js'
import { callable, implementing, integer } from '../util/config.js'
import { readBody } from './body.js'
import type { ChallengeStore } from './challenge-store.js'
import { consoleLogger, type PaymentLogEntry, type PaymentLogger } from './logger.js'
import type { Authorization, PaymentLogFields, PaymentMethod, ReceiptHeaders } from './method.js'
import { type Cost, type Pricing, type Quote, quotedCost } from './pricing.js'
import { type PaidRequest, routeOf } from './request.js'
import { resolveRequestId } from './request-id.js'

export type SecretKey = string | Uint8Array

export type PaymentHandlerOptions<TPayment, TQuote extends Quote = Quote> = {
  /** Protection space named in every challenge, e.g. the API's host name. */
  realm: string
  /**
   * Challenge-binding secret, at least 32 bytes. A list rotates keys: the first
   * signs new challenges, every one verifies, so challenges issued under the
   * previous key stay valid until they expire.
   */
  secretKey: SecretKey | readonly SecretKey[]
  /**
   * The payment method that writes challenges and judges credentials, or
   * several, in the server's order of preference: a challenge is offered for
   * each (ordered by the client's `Accept-Payment` when it sends one), and a
   * credential is judged by the method whose challenge it answers.
   */
  method: PaymentMethod<TPayment> | readonly PaymentMethod<TPayment>[]
  /**
   * The request field credentials travel in (draft-httpauth-payment-02):
   * `Authorization` (default), or `Payment-Authorization` for a route that
   * keeps `Authorization` for its own authentication. A credential in the
   * other field never pays.
   */
  credentialHeader?: CredentialHeader
  /** Where used challenge ids are recorded: one store shared by every instance (a credential pays for one response). */
  challenges: ChallengeStore
  /** This route's price for a request that asks for content. */
  pricing: Pricing<TQuote>
  /**
   * Whether a request asks for this route's content (then it is priced, bound
   * to its body, and served), rather than being a management request (a
   * voucher, topUp or close on the same resource: never priced, no handler).
   * Default: every method but HEAD.
   */
  servesContent?: (request: Request, body: Uint8Array) => boolean
  /** Largest request body read (bytes), checked before anything is hashed or parsed; larger is 413. Default 4 MiB. */
  maxBodyBytes?: number
  /** Seconds a challenge stays valid. Default 300. */
  challengeTtl?: number
  /** Receives one entry per decided request. Default: JSON lines on the console. */
  logger?: PaymentLogger
  /** Clock in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number
}

/** The handler's answer to a request. */
export type PaymentOutcome<TPayment, TQuote extends Quote = Quote> =
  /** Answered here: a challenge, an error, a management action's receipt, or an idempotent replay. */
  | { kind: 'respond'; response: Response }
  /** Paid: run the route's handler, then pass its result to `complete` for the response to send. */
  | {
      kind: 'serve'
      requestId: string
      /** The body the handler read (the request's own stream is consumed): for a framework to hand on to the route. */
      body: Uint8Array
      payment: TPayment
      quote: TQuote
      /** Commits (2xx) or releases (otherwise) and returns the response to send: the handler's, with `Payment-Receipt`, or a problem. */
      complete(result: HandlerResult): Promise<Response>
    }

/** What the route's handler did. */
export type HandlerResult = {
  response: Response
  /** An error the handler threw (its response is then the framework's rendering of it). */
  error?: unknown
  /** What the request consumed; default: the whole quote. */
  cost?: Cost | undefined
}

const minimumSecretBytes = 32
// A management request pays for nothing: its challenge quotes zero.
const managementQuote: Quote = Object.freeze({ total: 0n, units: 0, unitPrice: 0n, unitType: 'request' })
/** The path of a route (`METHOD /path`). */
const pathOf = (route: string) => route.slice(route.indexOf(' ') + 1)
const secretKey = z.union([z.string(), z.instanceof(Uint8Array)], { error: 'must be a string or bytes' }).refine((key) => {
  const length = typeof key === 'string' ? new TextEncoder().encode(key).length : key.length
  return length >= minimumSecretBytes
}, `every secret key must be at least ${minimumSecretBytes} bytes`)
const optionsSchema = z.object({
  realm: z
    .string({ error: 'must be a non-empty string' })
    .min(1, 'must be a non-empty string')
    .refine((realm) => {
      try {
        formatAuthParam('realm', realm)
        return true
      } catch {
        return false
      }
    }, 'must fit an auth-param (no control characters)'),
  secretKey: z.preprocess(
    (keys) => (Array.isArray(keys) ? keys : [keys]),
    z.array(secretKey).min(1, `needs at least one key of at least ${minimumSecretBytes} bytes`),
  ),
  method: z.preprocess(
    (methods) => (Array.isArray(methods) ? methods : [methods]),
    z
      .array(
        z.object({
          name: z.string().regex(/^[a-z]+$/, 'must be lowercase ASCII letters'),
          intent: z.string().regex(/^[A-Za-z0-9-]+$/, 'must be an intent token'),
          challengeRequest: callable(),
          authorize: callable(),
        }),
      )
      .min(1, 'needs at least one payment method'),
  ),
  credentialHeader: z
    .enum(['Authorization', 'Payment-Authorization'], { error: 'must be Authorization or Payment-Authorization' })
    .optional(),
  challenges: implementing<ChallengeStore>(['consumeChallenge', 'releaseChallenge']),
  pricing: callable<Pricing>(),
  servesContent: callable<(request: Request, body: Uint8Array) => boolean>().optional(),
  maxBodyBytes: integer(1).optional(),
  challengeTtl: integer(1).optional(),
  logger: callable<PaymentLogger>().optional(),
  now: callable<() => number>().optional(),
})

/** `Cache-Control` with `private` added (and `public` dropped): what a response that carries payment data may be. */
function withPrivate(cacheControl: string | null): string {
  const directives = (cacheControl ?? '')
    .split(',')
    .map((directive) => directive.trim())
    .filter((directive) => directive !== '' && !/^(public|private)$/i.test(directive))
  return ['private', ...directives].join(', ')
}

/** `response` with `headers` set: in place when its headers can change, else on a copy (a fetched response's are immutable). */
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

/** Statuses a client retries unchanged (the OpenAI SDK: 408, 409, 429 and every 5xx). */
const retryableStatus = (status: number) => status === 408 || status === 409 || status === 429 || status >= 500

/**
 * The Payment scheme for one route: answers an unpaid request with `402` and a
 * bound challenge, verifies a paid retry (binding, realm, route, expiry, body
 * digest), lets the method judge the payload, and after the route's handler
 * commits and attaches `Payment-Receipt`. Every failure is one
 * `application/problem+json` envelope (docs/errors.md). Options are validated
 * here: a bad one throws a `ConfigError` at start.
 */
export function paymentHandler<TPayment, TQuote extends Quote = Quote>(options: PaymentHandlerOptions<TPayment, TQuote>) {
  parseConfig(optionsSchema, options, 'payment')
  const { realm, challenges, pricing } = options
  const methods: readonly PaymentMethod<TPayment>[] = Array.isArray(options.method)
    ? options.method
    : [options.method as PaymentMethod<TPayment>]
  const credentialHeader = options.credentialHeader ?? 'Authorization'
  const secretKeys = (Array.isArray(options.secretKey) ? options.secretKey : [options.secretKey]).map((key: SecretKey) =>
    typeof key === 'string' ? new TextEncoder().encode(key) : key,
  )
  const servesContent = options.servesContent ?? ((request: Request) => request.method !== 'HEAD')
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024
  const challengeTtl = options.challengeTtl ?? 300
  const logger = options.logger ?? consoleLogger
  const now = options.now ?? Date.now

  // Every unpaid request is answered with this error: made once, not per request (capturing a stack is not free).
  const paymentRequired = new PaymentError(
    'payment_required',
    'Payment is required. Pay the challenge in WWW-Authenticate and retry the identical request.',
  )

  // A challenge's `expires`, whole seconds: the same string for every challenge issued in one second, so made once.
  let expiry = { second: Number.NaN, expires: '' }
  const expiresFor = (second: number) => {
    if (expiry.second !== second) expiry = { second, expires: new Date((second + challengeTtl) * 1000).toISOString().replace('.000Z', 'Z') }
    return expiry.expires
  }

  /**
   * One request's state. A management request is never priced (its quote is
   * zero); a content request's quote is made once, by whoever needs it first.
   */
  type Exchange = {
    paid: PaidRequest
    requestId: string
    startedAt: number
    management: boolean
    /** The method judging this request's credential, once known. */
    method?: PaymentMethod<TPayment>
    credential?: Credential
    /** The challenge id this request consumed, while it is held. */
    consumed?: string | undefined
    quote(): Promise<Quote>
    contentQuote(): Promise<TQuote>
  }

  /**
   * The challenges for this request, one per method the client accepts (`Accept-Payment`), best first; the header carries them all.
   * `next`: the challenge a paid delivery carries for the client's next request on this route: bound to the route,
   * not to a body (none is known yet), so `opaque` says `body: any` instead of a digest; priced as this request was.
   */
  async function issueChallenge(exchange: Exchange, next = false) {
    const { paid, credential } = exchange
    const offered = methods.map((method) => ({ method: method.name, intent: method.intent, judge: method }))
    const { offers } = AcceptPayment.select(offered, paid.request.headers.get('Accept-Payment'))
    const expires = expiresFor(Math.floor(now() / 1000))
    const digest = paid.body.length > 0 && !next ? bodyDigest(paid.body) : undefined
    const quote = await exchange.quote()
    const issued = await Promise.all(
      offers.map(async ({ judge }) =>
        Challenge.create({
          secretKey: secretKeys[0]!,
          realm,
          method: judge.name,
          intent: judge.intent,
          request: await judge.challengeRequest({ paid, quote, credential }),
          expires,
          digest,
          ...(credentialHeader === 'Payment-Authorization' ? { header: credentialHeader } : {}),
          // The nonce makes every challenge unique, so single use is per issuance, not per (body, second).
          opaque: { route: paid.route, nonce: base64url.encode(randomBytes(12)), ...(next ? { body: 'any' } : {}) },
        }),
      ),
    )
    return { header: issued.map((challenge) => Challenge.format(challenge)).join(', '), id: issued[0]!.id }
  }

  /** The credential the request carries in the route's field, or why there is none to judge. */
  function lookUpCredential(headers: Headers): Credential | undefined {
    let found: ReturnType<typeof Credential.fromHeaders>
    try {
      found = Credential.fromHeaders(headers, credentialHeader)
    } catch (error) {
      if (error instanceof WireError) throw new PaymentError('mpp_malformed_credential', `Malformed payment credential: ${error.message}.`)
      throw error
    }
    switch (found.kind) {
      case 'none':
        return undefined
      case 'found':
        return found.credential
      case 'several':
        throw new PaymentError('mpp_multiple_credentials', 'Send one Payment credential, in one field.')
      case 'misplaced':
        // A credential MUST be accepted only from the field its challenge selects.
        if (found.field !== credentialHeader) {
          throw new PaymentError('mpp_malformed_credential', `This route takes its Payment credential in ${credentialHeader}.`)
        }
        throw new PaymentError(
          'mpp_invalid_challenge',
          `The challenge selects ${found.selected}; this route takes credentials in ${credentialHeader}.`,
        )
    }
  }

  /** The method whose challenge `credential` answers. */
  function methodFor(credential: Credential): PaymentMethod<TPayment> {
    const { challenge } = credential
    const candidates = methods.filter((method) => method.name === challenge.method && method.intent === challenge.intent)
    const chosen =
      candidates.length <= 1 ? candidates[0] : candidates.find((method) => method.recognizes?.(Challenge.request(challenge)) ?? true)
    if (chosen === undefined) {
      const offered = methods.map((method) => `${method.name}/${method.intent}`).join(', ')
      throw new PaymentError('mpp_method_unsupported', `This route accepts ${offered} payments only.`)
    }
    return chosen
  }

  // Everything method-independent about a credential, in the order of docs/flow.md; the method then judges the payload.
  async function authorize(exchange: Exchange, credential: Credential): Promise<Authorization<TPayment>> {
    exchange.credential = credential
    const { challenge } = credential
    const { paid } = exchange
    const method = methodFor(credential)
    exchange.method = method
    const kind = method.classify?.(credential)
    // A credential that delivers no content (a topUp, a close) manages the channel whatever the request looks like.
    if (kind?.management) exchange.management = true
    const invalid = (detail: string) =>
      new PaymentError('mpp_invalid_challenge', detail, kind?.invalidChallengeType ? { problemType: kind.invalidChallengeType } : {})
    const bound = secretKeys.map((secretKey) => timingSafeEqual(computeChallengeId({ secretKey, ...challenge }), challenge.id))
    if (!bound.includes(true)) throw invalid('The challenge was not issued by this server.')
    if (challenge.realm !== realm) throw invalid('The challenge is for another realm.')
    // Content is bound to its route (method and path); management, which delivers none, to the resource (path).
    const opaque = Challenge.opaque(challenge)
    const issuedFor = opaque?.route
    const sameResource = issuedFor !== undefined && pathOf(issuedFor) === pathOf(paid.route)
    if (exchange.management ? !sameResource : issuedFor !== paid.route) throw invalid('The challenge was issued for another route.')
    const expiresAt = challenge.expires === undefined ? undefined : rfc3339Instant(challenge.expires)
    if (expiresAt === undefined) throw invalid('The challenge has no expiry; use the fresh challenge in WWW-Authenticate.')
    if (expiresAt <= now()) {
      throw new PaymentError('mpp_challenge_expired', 'The challenge has expired. Use the fresh challenge in WWW-Authenticate.')
    }
    // The body is bound only where it is what is paid for: a management request's body is not content. A next
    // challenge (from a paid delivery) binds none: the client had no body to show yet; the voucher pays what it is quoted.
    const digestMatches = challenge.digest === undefined ? paid.body.length === 0 : verifyBodyDigest(challenge.digest, paid.body)
    if (!exchange.management && !digestMatches && opaque?.body !== 'any') {
      throw new PaymentError(
        'mpp_body_digest_mismatch',
        'The request body does not match the digest bound into the challenge. Retry with the identical body.',
      )
    }
    const consumeChallenge = async () => {
      if (!(await challenges.consumeChallenge(challenge.id, expiresAt))) {
        throw new PaymentError('mpp_invalid_challenge', 'The challenge was already used. Use the fresh challenge in WWW-Authenticate.')
      }
      exchange.consumed = challenge.id
    }
    return method.authorize({
      credential,
      request: Challenge.request(challenge),
      paid,
      management: exchange.management,
      quote: exchange.quote,
      consumeChallenge,
    })
  }

  // Renders any failure as the envelope; codes that carry a challenge get a fresh one.
  async function errorResponse(exchange: Exchange, error: unknown): Promise<{ response: Response; failure: ProblemError }> {
    const failure = error instanceof ProblemError ? error : PaymentError.internal(error)
    let challenge: { header: string; id: string } | undefined
    if (failure.spec.challenge) {
      try {
        challenge = await issueChallenge(exchange)
      } catch (challengeError) {
        // A request that cannot be priced is answered with why (e.g. mpp_request_quote_invalid), not a challenge.
        const reason =
          challengeError instanceof ProblemError && !challengeError.spec.challenge ? challengeError : PaymentError.internal(challengeError)
        return errorResponse(exchange, reason)
      }
    }
    return { response: renderProblem(failure, { requestId: exchange.requestId, challenge }), failure }
  }

  /** Logs the decision and returns `response` with `X-Request-Id` (and `extraHeaders`) set. */
  function finish(
    exchange: Exchange,
    response: Response,
    code: string,
    details: {
      fields?: PaymentLogFields | undefined
      errors?: unknown[]
      receipt?: Receipt
      /** The method's headers beside the receipt. */
      receiptHeaders?: ReceiptHeaders | undefined
      rendered?: boolean
      /** The next request's challenge, on a paid delivery. */
      next?: string | undefined
    } = {},
  ): Response {
    const { fields } = details
    const method = exchange.method ?? methods[0]!
    const entry: PaymentLogEntry = {
      requestId: exchange.requestId,
      route: exchange.paid.route,
      status: response.status,
      code,
      method: method.name,
      intent: method.intent,
      durationMs: now() - exchange.startedAt,
    }
    if (fields?.channelId !== undefined) entry.channelId = fields.channelId
    if (fields?.amounts !== undefined) {
      entry.amounts = Object.fromEntries(Object.entries(fields.amounts).map(([name, amount]) => [name, amount.toString()]))
    }
    if (fields?.events !== undefined && fields.events.length > 0) entry.events = fields.events
    // For an unexpected error, its class name only: messages can carry request data.
    const unexpected = details.errors?.find((error) => error !== undefined && !(error instanceof ProblemError))
    if (unexpected !== undefined) entry.error = unexpected instanceof Error ? unexpected.name : typeof unexpected
    logger(entry)
    // A problem rendered here already carries the request id and `no-store`.
    if (details.rendered) return response
    const headers: Record<string, string> = { 'X-Request-Id': exchange.requestId }
    const cacheControl = response.headers.get('Cache-Control')
    if (details.receipt !== undefined) {
      // A response with a receipt MUST be `private` (draft-httpauth-payment §Caching): added to what the route set.
      Object.assign(headers, details.receiptHeaders)
      headers['Payment-Receipt'] = Receipt.format(details.receipt)
      headers['Cache-Control'] = withPrivate(cacheControl)
      // RFC 9110 §11.6.1: WWW-Authenticate on a success says what credentials the next request may bring.
      if (details.next !== undefined) headers['WWW-Authenticate'] = details.next
    } else if (exchange.paid.request.headers.has('Payment-Authorization') && !/\b(private|no-store)\b/i.test(cacheControl ?? '')) {
      // A response to a credential outside `Authorization` MUST be private or no-store (draft-02 §Caching).
      headers['Cache-Control'] = withPrivate(cacheControl)
    }
    return withHeaders(response, headers)
  }

  /**
   * Gives back the challenge a request consumed but paid nothing with, when
   * its answer says "retry": otherwise the identical retry (the OpenAI SDK
   * resends the same headers on a 429 or 5xx) would find it used. Returns a
   * failure to log; unreleased, the client pays a fresh challenge instead.
   */
  async function releaseChallenge(exchange: Exchange): Promise<unknown> {
    const id = exchange.consumed
    if (id === undefined) return undefined
    exchange.consumed = undefined
    try {
      await challenges.releaseChallenge(id)
      return undefined
    } catch (error) {
      return error
    }
  }

  async function fail(exchange: Exchange, error: unknown, fields?: PaymentLogFields, releaseError?: unknown): Promise<Response> {
    const { response, failure } = await errorResponse(exchange, error)
    const challengeError = failure.spec.retryable ? await releaseChallenge(exchange) : undefined
    const events = [...(fields?.events ?? []), ...failure.events]
    const logged = events.length > 0 ? { ...fields, events } : fields
    const errors = [failure.cause ?? error, releaseError, challengeError]
    return finish(exchange, response, failure.code, { fields: logged, errors, rendered: true })
  }

  /**
   * Judges `request`, reading its body (up to `maxBodyBytes`; a body that is
   * too large or cannot be read is answered here, in the envelope).
   * `context.requestId`: the id the framework gave this request, if any;
   * `context.client`: the address it came from, when known (`PaidRequest.client`).
   */
  return async function handlePayment(
    request: Request,
    context: { requestId?: string; client?: string } = {},
  ): Promise<PaymentOutcome<TPayment, TQuote>> {
    const { client } = context
    const paid: PaidRequest = { request, body: new Uint8Array(0), route: routeOf(request), ...(client === undefined ? {} : { client }) }
    let quoted: Promise<TQuote> | undefined
    const exchange: Exchange = {
      paid,
      // The framework's id for this request when it has one (so logs and responses agree), else the client's or a fresh one.
      requestId: context.requestId ?? resolveRequestId(request.headers.get('X-Request-Id') ?? undefined),
      startedAt: now(),
      management: false,
      contentQuote: () => {
        quoted ??= Promise.resolve(pricing(paid))
        return quoted
      },
      quote: () => (exchange.management ? Promise.resolve(managementQuote) : exchange.contentQuote()),
    }
    try {
      paid.body = await readBody(request, maxBodyBytes)
      exchange.management = !servesContent(request, paid.body)
    } catch (error) {
      // Without the body nothing can be bound or priced: no challenge, only the envelope.
      return { kind: 'respond', response: await fail(exchange, error instanceof ProblemError ? error : PaymentError.internal(error)) }
    }
    let authorization: Authorization<TPayment>
    try {
      const credential = lookUpCredential(request.headers)
      // No Payment credential: the challenge, without a throw through the verification path.
      if (credential === undefined) return { kind: 'respond', response: await fail(exchange, paymentRequired) }
      authorization = await authorize(exchange, credential)
    } catch (error) {
      return { kind: 'respond', response: await fail(exchange, error) }
    }
    const fields = authorization.log
    if (authorization.kind === 'replay')
      return { kind: 'respond', response: finish(exchange, authorization.response, 'replayed', { fields }) }
    if (authorization.kind === 'respond') {
      const response = new Response(null, { status: authorization.status })
      return {
        kind: 'respond',
        response: finish(exchange, response, 'paid', { fields, receipt: authorization.receipt, receiptHeaders: authorization.headers }),
      }
    }

    // A failed release is logged, not surfaced: the reservation expires on its own.
    const release = async () => {
      try {
        await authorization.release()
        return undefined
      } catch (error) {
        return error
      }
    }
    const quote = await exchange.contentQuote()
    return {
      kind: 'serve',
      requestId: exchange.requestId,
      body: paid.body,
      payment: authorization.payment,
      quote,
      async complete({ response, error, cost }) {
        // A handler that threw or answered with an error is not charged and gets no receipt.
        if (error !== undefined || response.status >= 400) {
          const releaseError = await release()
          if (error !== undefined) return fail(exchange, error, fields, releaseError)
          const challengeError = retryableStatus(response.status) ? await releaseChallenge(exchange) : undefined
          return finish(exchange, response, 'released', { fields, errors: [releaseError, challengeError] })
        }
        let committed: Awaited<ReturnType<typeof authorization.commit>>
        try {
          committed = await authorization.commit({ response, cost: cost ?? quotedCost(quote) })
        } catch (commitError) {
          // The content is withheld: nothing may be delivered that was not charged.
          const releaseError = await release()
          const failure =
            commitError instanceof ProblemError
              ? commitError
              : new PaymentError('mpp_commit_failed', 'Paid usage could not be committed; nothing was charged. Retry the same request.', {
                  cause: commitError,
                })
          return fail(exchange, failure, fields, releaseError)
        }
        const logged = {
          ...fields,
          ...committed.log,
          amounts: { ...fields?.amounts, ...committed.log?.amounts },
          events: [...(fields?.events ?? []), ...(committed.log?.events ?? [])],
        }
        // Only for a client that asks (`MPP-Next-Challenge`): issuing one costs about what a 402 does, wasted on others.
        // Charged already: a next challenge that cannot be made is left out (the client's next request gets a 402), and logged.
        let next: string | undefined
        let nextError: unknown
        if (exchange.paid.request.headers.has(nextChallengeHeader)) {
          try {
            next = (await issueChallenge(exchange, true)).header
          } catch (error) {
            nextError = error
          }
        }
        return finish(exchange, response, 'paid', {
          fields: logged,
          receipt: committed.receipt,
          receiptHeaders: committed.headers,
          next,
          errors: [nextError],
        })
      },
    }
  }
}
