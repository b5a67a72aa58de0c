import { Hono } from 'hono'
import { PaymentError } from '../../src/errors/payment-error.js'
import { type PaymentOptions, payment } from '../../src/middleware/payment.js'
import type { PaymentLogEntry } from '../../src/payment/logger.js'
import type { Authorization, PaymentMethod } from '../../src/payment/method.js'
import { fixedPrice } from '../../src/payment/pricing.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import type { Receipt } from '../../src/protocol/receipt.js'
import { memoryStore } from '../../src/stores/memory.js'

export const secretKey = 'test-secret-key-of-at-least-32-bytes!'

/** What the test method was asked to do, for assertions. */
export type MethodCalls = { authorized: number; committed: number; released: number }

/**
 * A payment method for exercising the middleware alone: payload `{ proof: 'paid' }`
 * pays, `{ action: 'manage' }` is a management action, `{ fail: code }` throws
 * that code. `commitError` makes commit throw.
 */
export function testMethod(options: { commitError?: unknown; challengeError?: unknown } = {}) {
  const calls: MethodCalls = { authorized: 0, committed: 0, released: 0 }
  const receipt = (challengeId: string): Receipt => ({
    status: 'success',
    method: 'test',
    intent: 'charge',
    timestamp: '2030-01-01T00:00:00Z',
    reference: 'ref_1',
    challengeId,
  })
  const method: PaymentMethod<{ payer: string }> = {
    name: 'test',
    intent: 'charge',
    challengeRequest() {
      if (options.challengeError) throw options.challengeError
      return { amount: '100', currency: 'usd', recipient: 'acct_1' }
    },
    async authorize({ credential, consumeChallenge }): Promise<Authorization<{ payer: string }>> {
      await consumeChallenge()
      calls.authorized++
      const { payload } = credential
      if (typeof payload.fail === 'string')
        throw new PaymentError(payload.fail as never, 'The test method refused.', {
          extensions: { channelId: '0xab', requiredCumulative: 2_000_000n },
        })
      if (payload.action === 'manage') return { kind: 'respond', status: 204, receipt: receipt(credential.challenge.id) }
      if (payload.proof !== 'paid') throw new PaymentError('mpp_payment_verification_failed', 'Bad proof.')
      return {
        kind: 'serve',
        payment: { payer: 'alice' },
        log: { channelId: '0xchannel', amounts: { reserved: 100n } },
        async commit() {
          if (options.commitError) throw options.commitError
          calls.committed++
          return { receipt: receipt(credential.challenge.id), log: { amounts: { charged: 100n } } }
        },
        async release() {
          calls.released++
        },
      }
    },
  }
  return { method, calls }
}

/** A Hono app with the middleware on a few routes, and a log sink. */
export function testApp(
  options: { method?: Parameters<typeof testMethod>[0] } & Partial<Omit<PaymentOptions<{ payer: string }>, 'method'>> = {},
) {
  const { method: methodOptions, ...paymentOptions } = options
  const { method, calls } = testMethod(methodOptions)
  const logs: PaymentLogEntry[] = []
  const paid = payment({
    realm: 'api.example.com',
    secretKey,
    method,
    challenges: memoryStore(),
    pricing: fixedPrice(100n),
    logger: (entry) => logs.push(entry),
    ...paymentOptions,
  })
  const app = new Hono()
  app.post('/v1/echo', paid, async (c) => c.json({ payer: c.var.payment.payer, body: await c.req.json() }))
  app.post('/v1/other', paid, (c) => c.json({ other: true }))
  app.get('/v1/resource', paid, (c) => c.json({ payer: c.var.payment.payer }))
  // A fetched response: its headers are immutable.
  app.post('/v1/fetched', paid, () => fetch('data:text/plain,fetched'))
  app.post('/v1/throws', paid, () => {
    throw new Error(`boom with ${secretKey}`)
  })
  app.post('/v1/payment-error', paid, () => {
    throw new PaymentError('mpp_request_quote_invalid', 'No quote.')
  })
  app.post('/v1/status/:code', paid, (c) => c.json({ failed: true }, Number(c.req.param('code')) as 404))
  return { app, calls, logs }
}

/** Answers a 402 the way a client does: echo its challenge with a payload. */
export function credentialFor(
  response: Response,
  payload: Record<string, unknown>,
  change: (challenge: Challenge) => Challenge = (c) => c,
) {
  const challenge = Challenge.parse(response.headers.get('WWW-Authenticate')!) as Challenge
  return Credential.format({ challenge: change(challenge), payload })
}

export const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', ...headers },
  body: JSON.stringify(body),
})
