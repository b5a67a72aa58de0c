import { Hono } from 'hono'
import type { Address } from 'viem'
import type { Escrow } from './escrow/port.js'
import { paymentErrorHandler } from './middleware/error-handler.js'
import type { PaymentLogger } from './middleware/logger.js'
import { payment, type SecretKey } from './middleware/payment.js'
import { tempoSession, type TempoSessionOptions } from './session/method.js'
import { fixedPrice } from './session/pricing.js'
import type { SessionStore } from './store/port.js'

export type GatewayConfig = {
  realm: string
  secretKey: SecretKey | readonly SecretKey[]
  escrow: Escrow
  store: SessionStore
  /** The payee address channels must pay. */
  recipient: Address
  /** The TIP-20 token channels must hold. */
  currency: Address
  /** Price of one request to the demo route, base units. */
  demoPrice: bigint
  /** Further session engine settings (minimum deposit, settlement threshold, …). */
  session?: Partial<Omit<TempoSessionOptions, 'escrow' | 'store' | 'recipient' | 'currency' | 'pricing'>>
  logger?: PaymentLogger
}

/** The gateway as one Hono app, the same on Node and on Workers. */
export function createGateway(config: GatewayConfig) {
  const method = tempoSession({
    escrow: config.escrow,
    store: config.store,
    recipient: config.recipient,
    currency: config.currency,
    pricing: fixedPrice(config.demoPrice),
    ...config.session,
  })
  const paid = payment({
    realm: config.realm,
    secretKey: config.secretKey,
    method,
    challenges: config.store,
    ...(config.logger ? { logger: config.logger } : {}),
  })
  const app = new Hono()
  app.onError(paymentErrorHandler)
  app.get('/health', (c) => c.json({ ok: true }))
  // GET also answers HEAD, which carries pure voucher top-ups.
  app.on(['GET', 'POST'], '/v1/demo', paid, (c) => c.json({ paid: true, channelId: c.var.payment.channelId }))
  return { app, method }
}
