import { Hono } from 'hono'
import type { Address } from 'viem'
import { defaultCatalogue, type ModelPrice } from './chat/catalogue.js'
import { chatPricing } from './chat/pricing.js'
import { chatRoutes } from './chat/route.js'
import type { ChatBackend } from './chat/upstream.js'
import type { Escrow } from './escrow/port.js'
import { paymentErrorHandler } from './middleware/error-handler.js'
import type { PaymentLogger } from './middleware/logger.js'
import { payment, type SecretKey } from './middleware/payment.js'
import { type TempoSessionOptions, tempoSession } from './session/method.js'
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
  /** Where completions come from: an OpenAI-compatible upstream, or the offline local backend. */
  backend: ChatBackend
  /** Models served and their prices. Default: the local backend's model. */
  catalogue?: readonly ModelPrice[]
  /** Session engine settings (buckets, reservation lifetime, settlement, containment, …). */
  session?: Partial<Omit<TempoSessionOptions, 'escrow' | 'store' | 'recipient' | 'currency' | 'pricing'>>
  logger?: PaymentLogger
}

/** The gateway as one Hono app, the same on Node and on Workers. */
export function createGateway(config: GatewayConfig) {
  const catalogue = config.catalogue ?? defaultCatalogue
  const chat = chatPricing(catalogue)
  const method = tempoSession({
    escrow: config.escrow,
    store: config.store,
    recipient: config.recipient,
    currency: config.currency,
    pricing: chat.pricing,
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
  app.route('/', chatRoutes({ backend: config.backend, catalogue, chat, paid }))
  return { app, method }
}
