import type { Context } from 'hono'
import type { ErrorSpec } from '../errors/codes.js'
import { PaymentError, ProblemError } from '../errors/payment-error.js'
import type { Pricing, Quote } from '../session/pricing.js'
import type { ModelPrice } from './catalogue.js'
import { promptTokens } from './tokens.js'
import { type ChatCompletionRequest, type ChatUsage, chatCompletionRequestSchema, completionTokenLimit } from './types.js'

/** A priced chat request: what the handler sends upstream and what it may cost. */
export type ChatQuote = { request: ChatCompletionRequest; model: ModelPrice; quote: Quote }

const modelNotFound: ErrorSpec = {
  status: 404,
  type: 'model-not-found',
  title: 'Model Not Found',
  retryable: false,
  challenge: false,
  errorType: 'invalid_request_error',
}

// Decoding as `Request.json()` does: replacement characters for invalid UTF-8, a leading BOM dropped.
const utf8 = new TextDecoder()
const invalid = (detail: string) => new PaymentError('mpp_request_quote_invalid', detail)

/**
 * Per-token pricing of OpenAI-style chat completions. The quote is the most a
 * request can cost: estimated prompt tokens × input price + the completion
 * token limit (`max_tokens`/`max_completion_tokens`, else the model's maximum)
 * × output price. The cost is the upstream's `usage` × the same prices (the
 * engine caps it at the quote). A bodiless `HEAD` (a voucher top-up) is quoted
 * at zero so it can get a challenge.
 */
export function chatPricing(catalogue: readonly ModelPrice[]) {
  const models = new Map(catalogue.map((model) => [model.id, model]))
  const [headline] = catalogue
  if (headline === undefined) throw new Error('chatPricing(): the catalogue is empty')
  // Parsed once per request, whoever asks first (challenge, engine or handler).
  const quotes = new WeakMap<Request, Promise<ChatQuote>>()
  const usages = new WeakMap<Request, { usage: ChatUsage; model: ModelPrice }>()

  const terms = (model: ModelPrice) => ({
    model: model.id,
    inputTokenPrice: model.inputTokenPrice.toString(),
    outputTokenPrice: model.outputTokenPrice.toString(),
  })

  async function price(context: Context): Promise<ChatQuote> {
    let body: unknown
    try {
      // From the bytes the middleware read (Hono caches them): `req.json()` would
      // rebuild a Response around them just to parse, a large share of a 402's cost.
      body = JSON.parse(utf8.decode(await context.req.arrayBuffer()))
    } catch {
      throw invalid('The request body is not JSON.')
    }
    const parsed = chatCompletionRequestSchema.safeParse(body)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw invalid(`Invalid chat completion request at ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}.`)
    }
    const request = parsed.data
    const model = models.get(request.model)
    if (model === undefined)
      throw new ProblemError(
        'model_not_found',
        modelNotFound,
        `The model ${JSON.stringify(request.model.slice(0, 64))} does not exist; GET /v1/models lists the models.`,
      )
    if (request.stream === true)
      throw new PaymentError('mpp_streaming_unavailable', 'Streaming is not available on this route yet; send "stream": false.')
    if (request.n !== undefined && request.n !== 1) throw invalid('Only n = 1 is supported.')
    const limit = completionTokenLimit(request) ?? model.maxOutputTokens
    if (limit < 1 || limit > model.maxOutputTokens)
      throw invalid(`The completion token limit must be between 1 and ${model.maxOutputTokens} for ${model.id}.`)
    const total = BigInt(await promptTokens(request, model.encoding)) * model.inputTokenPrice + BigInt(limit) * model.outputTokenPrice
    if (total <= 0n) throw invalid('No positive quote can be derived for this request.')
    return { request, model, quote: { total, unitPrice: model.outputTokenPrice, unitType: 'llm_token', terms: terms(model) } }
  }

  /** The priced request (memoised per request). */
  function chatQuote(context: Context): Promise<ChatQuote> {
    let quoted = quotes.get(context.req.raw)
    if (quoted === undefined) {
      quoted = price(context)
      quotes.set(context.req.raw, quoted)
    }
    return quoted
  }

  const pricing: Pricing = {
    async quote(context) {
      if (context.req.method === 'HEAD')
        return { total: 0n, unitPrice: headline.outputTokenPrice, unitType: 'llm_token', terms: terms(headline) }
      return (await chatQuote(context)).quote
    },
    cost(context) {
      const reported = usages.get(context.req.raw)
      if (reported === undefined) throw new Error('chat cost asked before the handler reported usage')
      const { usage, model } = reported
      const amount = BigInt(usage.prompt_tokens) * model.inputTokenPrice + BigInt(usage.completion_tokens) * model.outputTokenPrice
      return { amount, units: usage.prompt_tokens + usage.completion_tokens }
    },
  }
  /** The handler reports what inference consumed; `cost` charges it. */
  const reportUsage = (context: Context, model: ModelPrice, usage: ChatUsage) => {
    usages.set(context.req.raw, { usage, model })
  }
  return { pricing, chatQuote, reportUsage }
}
