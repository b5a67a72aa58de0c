import { Hono, type MiddlewareHandler } from 'hono'
import type { ModelPrice } from './catalogue.js'
import type { chatPricing } from './pricing.js'
import type { ChatBackend } from './upstream.js'

/**
 * The OpenAI-compatible routes: `GET /v1/models` (free: the catalogue and its
 * prices) and `POST /v1/mpp/chat/completions` behind `paid`. The handler sends
 * the priced request upstream and reports `usage`; the middleware commits the
 * cost and attaches the receipt, or releases on any failure. `GET` (so `HEAD`)
 * on the completions path exists only for voucher top-ups.
 */
export function chatRoutes(options: {
  backend: ChatBackend
  catalogue: readonly ModelPrice[]
  chat: ReturnType<typeof chatPricing>
  paid: MiddlewareHandler
}) {
  const { backend, catalogue, chat, paid } = options
  const app = new Hono()

  app.get('/v1/models', (c) =>
    c.json({
      object: 'list',
      data: catalogue.map((model) => ({
        id: model.id,
        object: 'model',
        owned_by: 'mpp-gateway',
        max_output_tokens: model.maxOutputTokens,
        pricing: { unit: 'llm_token', input: model.inputTokenPrice.toString(), output: model.outputTokenPrice.toString() },
      })),
    }),
  )

  app.post('/v1/mpp/chat/completions', paid, async (c) => {
    const { request, model } = await chat.chatQuote(c)
    const completion = await backend.complete(request, { signal: c.req.raw.signal })
    chat.reportUsage(c, model, completion.usage)
    return c.json(completion)
  })
  app.get('/v1/mpp/chat/completions', paid, (c) =>
    c.json({ error: { message: 'Use POST for completions.', type: 'invalid_request_error' } }, 405),
  )
  return app
}
