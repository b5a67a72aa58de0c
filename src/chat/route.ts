import { type Context, Hono, type MiddlewareHandler } from 'hono'
import { PaymentError } from '../errors/payment-error.js'
import { methodNotAllowed } from '../middleware/method-not-allowed.js'
import type { PaymentVariables } from '../middleware/payment.js'
import type { SessionPayment } from '../session/payment.js'
import type { ChatBackend } from './backend.js'
import type { ModelPrice } from './catalogue.js'
import { type ChatQuote, chatCost } from './pricing.js'
import { streamCompletion } from './stream-completion.js'
import type { StreamingSettings } from './streaming.js'

export type ChatRoutesOptions = {
  backend: ChatBackend
  catalogue: readonly ModelPrice[]
  /** The payment middleware for the completions route, priced with `chatPricing`. */
  paid: MiddlewareHandler<{ Variables: PaymentVariables<SessionPayment, ChatQuote> }>
  /** Streaming as `paid`'s pricing offers it (`chatPricing`'s `streaming`); `false`: none. */
  streaming?: StreamingSettings | false
}

/**
 * The OpenAI-compatible routes: `GET /v1/models` (free: the catalogue and its
 * prices) and `POST /v1/mpp/chat/completions` behind `paid`. The handler sends
 * the priced request upstream and charges its `usage`; the middleware commits
 * the cost and attaches the receipt, or releases on any failure. `GET` (so
 * `HEAD`) and a bodiless `POST` on the completions path are management
 * requests (vouchers, top-ups, closes), answered by the payment layer.
 */
const allowed = ['POST', 'GET', 'HEAD']

export function chatRoutes({ backend, catalogue, paid, streaming = false }: ChatRoutesOptions) {
  const app = new Hono<{ Variables: PaymentVariables<SessionPayment, ChatQuote> }>()

  const models = (c: Context) =>
    c.json({
      object: 'list',
      data: catalogue.map((model) => ({
        id: model.id,
        object: 'model',
        owned_by: 'mpp-gateway',
        max_output_tokens: model.maxOutputTokens,
        pricing: { unit: 'llm_token', input: model.inputTokenPrice.toString(), output: model.outputTokenPrice.toString() },
      })),
    })
  app.get('/v1/models', models)
  // An OpenAI SDK whose base URL is …/v1/mpp lists models here.
  app.get('/v1/mpp/models', models)

  app.post('/v1/mpp/chat/completions', paid, async (c) => {
    const { payment } = c.var
    const { chat } = payment.quote
    if (chat.stream !== undefined) {
      if (streaming === false || backend.stream === undefined)
        throw new PaymentError('mpp_streaming_unavailable', 'Streaming is not available on this route; send "stream": false.')
      return streamCompletion({
        stream: backend.stream.bind(backend),
        settings: streaming,
        quote: payment.quote,
        meter: payment.meter,
        request: c.req.raw,
        requestId: c.var.requestId,
        keepAlive: (work) => keepAlive(c, work),
      })
    }
    const completion = await backend.complete(chat.request, { signal: c.req.raw.signal })
    payment.charge(chatCost(chat.model, completion.usage))
    return c.json(completion)
  })
  // The payment middleware answers GET and HEAD (management) itself; the handler is only a safe fallback.
  app.get('/v1/mpp/chat/completions', paid, methodNotAllowed(allowed))
  app.all('/v1/mpp/chat/completions', methodNotAllowed(allowed))
  return app
}

// Workers end an isolate's work with its response unless told to wait; Node has no execution context (Hono throws).
function keepAlive(c: Context, work: Promise<unknown>) {
  let executionCtx: Context['executionCtx'] | undefined
  try {
    executionCtx = c.executionCtx
  } catch {
    return
  }
  executionCtx.waitUntil(work)
}
