import { createMiddleware } from 'hono/factory'
import { HTTPException } from 'hono/http-exception'
import { z } from 'zod'
import { parseConfig } from '../errors/config-error.js'
import { type PaymentHandlerOptions, paymentHandler } from '../payment/handler.js'
import type { Cost, Quote } from '../payment/pricing.js'
import { callable } from '../util/config.js'
import type { ClientAddress } from './client-address.js'

export type PaymentOptions<TPayment, TQuote extends Quote = Quote> = PaymentHandlerOptions<TPayment, TQuote> & {
  /** The client's address of a request, for per-client limits (`client-address.ts`). Default: none known, no such limit. */
  clientAddress?: ClientAddress
}

/** What a handler behind the middleware reads as `c.var.payment`. */
export type PaidContext<TPayment, TQuote extends Quote = Quote> = TPayment & {
  /** The route's quote for this request: the most it will be charged. */
  quote: TQuote
  /** Reports what the request actually consumed (capped at the quote). Not called: the whole quote is charged. */
  charge(cost: Cost): void
}

export type PaymentVariables<TPayment, TQuote extends Quote = Quote> = {
  /** The verified payment, for the handler behind the middleware. */
  payment: PaidContext<TPayment, TQuote>
  /** This request's id, also sent as `X-Request-Id`. */
  requestId: string
}

/**
 * Puts a Hono route behind the Payment HTTP authentication scheme: glue over
 * the framework-free `paymentHandler` (challenge, credential, method, receipt).
 * The middleware reads the body once, up to `maxBodyBytes`; handlers read it
 * again through `c.req`, which Hono caches.
 *
 * @param options.realm protection space named in challenges
 * @param options.secretKey challenge-binding secret(s), ≥ 32 bytes each; the first signs
 * @param options.method the payment method (e.g. the Tempo session engine)
 * @param options.challenges the store of used challenge ids (shared by all instances)
 * @param options.pricing this route's price for a request
 * @param options.challengeTtl challenge lifetime in seconds (default 300)
 * @param options.logger structured log sink (default JSON lines on the console)
 * @param options.clientAddress where a request comes from, for per-client limits (default: unknown)
 *
 * @example
 * const app = new Hono()
 * app.post('/paid', payment({ realm: 'api.example.com', secretKey, method, challenges, pricing: fixedPrice(1000n) }), (c) => c.json({ ok: true }))
 * export default app
 */
export function payment<TPayment, TQuote extends Quote = Quote>(options: PaymentOptions<TPayment, TQuote>) {
  const handle = paymentHandler(options)
  const { clientAddress } = parseConfig(z.object({ clientAddress: callable<ClientAddress>().optional() }), options, 'payment')
  return createMiddleware<{ Variables: PaymentVariables<TPayment, TQuote> }>(async function paymentMiddleware(c, next) {
    const requestId: string | undefined = c.get('requestId')
    const client = clientAddress?.(c)
    const outcome = await handle(c.req.raw, {
      ...(requestId === undefined ? {} : { requestId }),
      ...(client === undefined ? {} : { client }),
    })
    if (outcome.kind === 'respond') return outcome.response
    // The handler consumed the request's stream: the route reads the same bytes through Hono's body cache,
    // which holds promises (as Hono's own body parsing stores them; its declared type says otherwise).
    const { body } = outcome
    const bytes = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer
    c.req.bodyCache.arrayBuffer = Promise.resolve(bytes) as unknown as ArrayBuffer
    c.set('requestId', outcome.requestId)
    let cost: Cost | undefined
    c.set('payment', { ...outcome.payment, quote: outcome.quote, charge: (reported: Cost) => (cost = reported) })
    await next()
    // An HTTPException is the handler's own answer (already rendered), not a failure to report.
    const error = c.error instanceof HTTPException ? undefined : c.error
    const response = await outcome.complete({ response: c.res, error, cost })
    // Replace rather than assign over: Hono would copy the old response's headers onto the new one.
    c.res = undefined
    c.res = response
  })
}
