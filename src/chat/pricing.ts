import { z } from 'zod'
import { parseConfig } from '../errors/config-error.js'
import { PaymentError } from '../errors/payment-error.js'
import type { Cost, Pricing, Quote } from '../payment/pricing.js'
import type { PaidRequest } from '../payment/request.js'
import { type ModelPrice, modelPriceSchema } from './catalogue.js'
import { nestsDeeperThan } from './json-depth.js'
import { type StreamingSettings, type StreamMode, streamModeOf } from './streaming.js'
import { promptTokens } from './tokens.js'
import { type ChatCompletionRequest, type ChatUsage, chatCompletionRequestSchema, completionTokenLimit } from './types.js'

/**
 * A priced chat request: the route's quote, plus what the handler sends
 * upstream, its prompt tokens and completion limit as quoted, and how a
 * stream is paid (absent: not a stream).
 */
export type ChatQuote = Quote & {
  chat: { request: ChatCompletionRequest; model: ModelPrice; promptTokens: number; limit: number; stream?: StreamMode }
}

export type ChatPricingOptions = {
  /** Streaming as the route serves it; `false` (the default): `stream: true` is `mpp_streaming_unavailable`. */
  streaming?: StreamingSettings | false
}

// Decoding as `Request.json()` does: replacement characters for invalid UTF-8, a leading BOM dropped.
const utf8 = new TextDecoder()
const invalid = (detail: string) => new PaymentError('mpp_request_quote_invalid', detail)
// A chat request nests a few levels (messages, parts, tool schemas); 64 leaves room for deep tool schemas.
const maxJsonDepth = 64

const catalogueSchema = z
  .array(modelPriceSchema, { error: 'must be a list of models' })
  .min(1, 'must list at least one model')
  .refine((models) => new Set(models.map((model) => model.id)).size === models.length, 'model ids must be unique')

/** The charge for `usage` at `model`'s prices. */
export function chatCost(model: ModelPrice, usage: ChatUsage): Cost {
  const amount = BigInt(usage.prompt_tokens) * model.inputTokenPrice + BigInt(usage.completion_tokens) * model.outputTokenPrice
  return { amount, units: usage.prompt_tokens + usage.completion_tokens }
}

/** A request asks for a completion when it is a POST with a body; anything else on the route is management. */
export const servesCompletion = (request: Request, body: Uint8Array) => request.method === 'POST' && body.length > 0

/**
 * Per-token pricing of OpenAI-style chat completions. The quote is the most a
 * request can cost: prompt tokens × input price + the completion token limit
 * (`max_tokens`/`max_completion_tokens`, else the model's maximum) × output
 * price. The challenge offers it as one `request` unit (`amount` = the quote),
 * so a client that knows only the session spec pays a completion in one
 * voucher step; the per-token prices ride along in `methodDetails` for
 * clients that meter. The handler charges the upstream's `usage` × the same
 * prices (`chatCost`; the engine caps it at the quote). The catalogue is
 * validated here: a bad one throws a `ConfigError` at start.
 */
export function chatPricing(catalogue: readonly ModelPrice[], options: ChatPricingOptions = {}): Pricing<ChatQuote> {
  const streaming = options.streaming ?? false
  parseConfig(catalogueSchema, catalogue, 'catalogue')
  const models = new Map(catalogue.map((model) => [model.id, model]))
  const terms = (model: ModelPrice) => ({
    model: model.id,
    inputTokenPrice: model.inputTokenPrice.toString(),
    outputTokenPrice: model.outputTokenPrice.toString(),
  })

  return async function priceChat({ request, body }: PaidRequest): Promise<ChatQuote> {
    // From the bytes the payment layer read: `Request.json()` would need a second copy of the body.
    const text = utf8.decode(body)
    if (nestsDeeperThan(text, maxJsonDepth)) throw invalid(`The request body nests JSON deeper than ${maxJsonDepth} levels.`)
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw invalid('The request body is not JSON.')
    }
    const parsed = chatCompletionRequestSchema.safeParse(json)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw invalid(`Invalid chat completion request at ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}.`)
    }
    const chat = parsed.data
    const model = models.get(chat.model)
    if (model === undefined) {
      throw new PaymentError(
        'model_not_found',
        `The model ${JSON.stringify(chat.model.slice(0, 64))} does not exist; GET /v1/models lists the models.`,
      )
    }
    if (chat.stream === true && streaming === false)
      throw new PaymentError('mpp_streaming_unavailable', 'Streaming is not available on this route; send "stream": false.')
    if (chat.n !== undefined && chat.n !== 1) throw invalid('Only n = 1 is supported.')
    const limit = completionTokenLimit(chat) ?? model.maxOutputTokens
    if (limit < 1 || limit > model.maxOutputTokens)
      throw invalid(`The completion token limit must be between 1 and ${model.maxOutputTokens} for ${model.id}.`)
    const prompt = await promptTokens(chat, model.encoding)
    const stream = chat.stream === true && streaming !== false ? streamModeOf(request) : undefined
    // A metered stream is quoted its prompt and first window: later windows are paid by vouchers as it runs.
    const quoted = stream === 'metered' && streaming !== false && streaming.windowTokens < limit ? streaming.windowTokens : limit
    const total = BigInt(prompt) * model.inputTokenPrice + BigInt(quoted) * model.outputTokenPrice
    if (total <= 0n) throw invalid('No positive quote can be derived for this request.')
    return {
      total,
      units: prompt + quoted,
      unitPrice: total,
      unitType: 'request',
      terms: stream === 'metered' && streaming !== false ? { ...terms(model), streamWindowTokens: streaming.windowTokens } : terms(model),
      chat: { request: chat, model, promptTokens: prompt, limit, ...(stream === undefined ? {} : { stream }) },
    }
  }
}
