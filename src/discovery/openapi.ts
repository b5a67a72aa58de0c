// The gateway's OpenAPI document with the payment information of
// draft-payment-discovery-00: built once, from the values the routes are
// configured with, so it cannot drift from what they charge.
import type { Address } from 'viem'
import { z } from 'zod'
import { type ModelPrice, modelPriceSchema } from '../chat/catalogue.js'
import { chatCompletionRequestSchema, chatCompletionSchema } from '../chat/types.js'
import { parseConfig } from '../errors/config-error.js'
import { address, integer } from '../util/config.js'

export type OpenApiOptions = {
  /** The service's name (`info.title`). */
  title: string
  /** The payment method of the paid route: its offer names the method and intent it challenges with. */
  method: { name: string; intent: string }
  /** The token the paid route is paid in (the offer's `currency`). */
  currency: Address
  /** The chain of the escrow, named in the pricing note. */
  chainId: number
  /** The models the paid route serves, with their prices. */
  catalogue: readonly ModelPrice[]
}

/** A JSON value as the document holds it. */
type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

const optionsSchema = z.object({
  title: z.string({ error: 'must be a service name' }).min(1, 'must be a service name'),
  method: z.object({
    name: z.string({ error: 'must be a payment method name' }).min(1, 'must be a payment method name'),
    // The only intents the draft's offer knows.
    intent: z.enum(['charge', 'session'], { error: 'must be charge or session' }),
  }),
  currency: address,
  chainId: integer(1),
  catalogue: z
    .array(modelPriceSchema, { error: 'must be a list of models' })
    .min(1, 'must list at least one model')
    .refine((models) => new Set(models.map((model) => model.id)).size === models.length, 'model ids must be unique'),
})

/** `schema` as a JSON Schema (2020-12, the dialect of OpenAPI 3.1), without the `$schema` that OpenAPI's own dialect makes redundant. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io }) as { [key: string]: Json }
  return rest
}

/**
 * The OpenAPI 3.1 document of the gateway's routes: `GET /health` and
 * `GET /v1/models` and `GET /v1/mpp/models` (free) and `POST /v1/mpp/chat/completions`, whose
 * `x-payment-info` holds one offer. The offer has exactly the draft's fields:
 * its `amount` is `null` (dynamic pricing, as each request's cost depends on
 * its tokens) and its `description` lists every model's per-token prices. The
 * request schema is the route's own, with `model` narrowed to the catalogue,
 * and its example is a request the route prices, so a validator can reach the
 * 402. Options are validated here: a bad one throws a `ConfigError`.
 */
export function openApiDocument(options: OpenApiOptions): { [key: string]: Json } {
  const { title, method, currency, chainId, catalogue } = parseConfig(optionsSchema, options, 'openApiDocument')
  const first = catalogue[0]!
  const prices = catalogue.map((model) => `${model.id} ${model.inputTokenPrice}/${model.outputTokenPrice}`).join(', ')
  const offer = {
    intent: method.intent,
    method: method.name,
    amount: null,
    currency,
    description: `Per token, on chain ${chainId}, in base units of the currency per input/output token: ${prices}. The cost depends on the request; its 402 challenge states the terms.`,
  }
  const requestSchema = chatCompletionRequestSchema.extend({ model: z.enum(catalogue.map((model) => model.id)) })
  const models = {
    get: {
      summary: 'The models served and their prices (free)',
      responses: { '200': { description: 'The catalogue: each model with its prices in base units per token.' } },
    },
  }
  const example = { model: first.id, messages: [{ role: 'user', content: 'Hello' }], max_tokens: Math.min(16, first.maxOutputTokens) }
  return {
    openapi: '3.1.0',
    info: {
      title,
      // The version of the /v1 routes.
      version: '1',
      description: 'OpenAI-compatible chat completions paid per token with MPP: HTTP 402 and the Payment authentication scheme.',
    },
    'x-service-info': { categories: ['compute'] },
    paths: {
      '/health': {
        get: {
          summary: 'Health and the payee readiness',
          responses: {
            '200': {
              description:
                'The gateway serves paid requests. `status` is `ready`, or `degraded` when closes and settlements cannot be sent (`reason`: the payee has no key, or cannot pay the fee); `payee` has its address, fee token, balance and what one close needs.',
            },
            '503': { description: 'The chain cannot be read: new channels and vouchers cannot be verified.' },
          },
        },
      },
      '/v1/models': models,
      // Where an OpenAI SDK whose baseURL is `…/v1/mpp` lists models.
      '/v1/mpp/models': models,
      '/v1/mpp/chat/completions': {
        post: {
          summary: 'Chat completion, paid per token',
          'x-payment-info': { offers: [offer] },
          requestBody: {
            required: true,
            content: { 'application/json': { schema: jsonSchema(requestSchema, 'input'), example } },
          },
          responses: {
            '200': {
              description: 'The completion; `Payment-Receipt` carries the charge.',
              content: { 'application/json': { schema: jsonSchema(chatCompletionSchema, 'output') } },
            },
            '402': { description: 'Payment Required' },
            default: {
              description: 'An error: RFC 9457 problem details (`application/problem+json`) that also carry an OpenAI-style `error`.',
            },
          },
        },
      },
    },
  }
}
