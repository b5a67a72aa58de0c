// The discovery document (draft-payment-discovery-00) follows the gateway's
// configuration: the offer names the method, intent and currency the paid
// route challenges with, the catalogue gives the models and their prices, and
// `GET /openapi.json` serves exactly that document for every route the app has.

import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createGateway, type GatewayConfig } from '../../src/app.js'
import type { ModelPrice } from '../../src/chat/catalogue.js'
import { localBackend } from '../../src/chat/local-backend.js'
import { chatPricing } from '../../src/chat/pricing.js'
import { chatCompletionRequestSchema } from '../../src/chat/types.js'
import { type OpenApiOptions, openApiDocument } from '../../src/discovery/openapi.js'
import { ConfigError } from '../../src/errors/config-error.js'
import { memoryStore } from '../../src/stores/memory.js'
import { memoryChainId, memoryEscrow } from '../support/memory-escrow.js'

const currency = '0x20C0000000000000000000000000000000000001'
const twoModels: ModelPrice[] = [
  { id: 'small', inputTokenPrice: 3n, outputTokenPrice: 7n, maxOutputTokens: 8 },
  { id: 'large', inputTokenPrice: 50n, outputTokenPrice: 150n, maxOutputTokens: 4_096, encoding: 'o200k_base' },
]
const options = (overrides: Partial<OpenApiOptions> = {}): OpenApiOptions => ({
  title: 'api.example.com',
  method: { name: 'tempo', intent: 'session' },
  currency,
  chainId: 4217,
  catalogue: twoModels,
  ...overrides,
})

// The draft's offer object (its appendix schema): these fields and no other, `amount` null or a canonical decimal.
const draftOffer = z.strictObject({
  intent: z.enum(['charge', 'session']),
  method: z.string(),
  amount: z.union([z.null(), z.string().regex(/^(0|[1-9][0-9]*)$/)]),
  currency: z.string().optional(),
  description: z.string().optional(),
})

type Operation = {
  'x-payment-info'?: { offers: unknown[] }
  requestBody?: { content: { 'application/json': { schema: { properties: { model: { enum: string[] } } }; example: unknown } } }
  responses: Record<string, unknown>
}
const paidOperation = (document: ReturnType<typeof openApiDocument>) =>
  (document.paths as unknown as Record<string, Record<string, Operation>>)['/v1/mpp/chat/completions']!.post!

describe('the discovery document', () => {
  it('offers the configured method, intent and currency, with dynamic pricing and every model’s prices', () => {
    const operation = paidOperation(openApiDocument(options()))
    expect(operation['x-payment-info']).toEqual({
      offers: [
        {
          intent: 'session',
          method: 'tempo',
          amount: null,
          currency: currency.toLowerCase(),
          description:
            'Per token, on chain 4217, in base units of the currency per input/output token: small 3/7, large 50/150. The cost depends on the request; its 402 challenge states the terms.',
        },
      ],
    })
    expect(operation.responses['402']).toEqual({ description: 'Payment Required' })
  })

  it('holds offers of exactly the draft’s shape', () => {
    for (const offer of paidOperation(openApiDocument(options()))['x-payment-info']!.offers) {
      expect(draftOffer.safeParse(offer).error).toBeUndefined()
    }
  })

  it('follows the catalogue: models, prices and the example change with it', () => {
    const single: ModelPrice[] = [{ id: 'only', inputTokenPrice: 1n, outputTokenPrice: 2n, maxOutputTokens: 100 }]
    const before = paidOperation(openApiDocument(options()))
    const after = paidOperation(openApiDocument(options({ catalogue: single })))
    expect(before.requestBody!.content['application/json'].schema.properties.model.enum).toEqual(['small', 'large'])
    expect(after.requestBody!.content['application/json'].schema.properties.model.enum).toEqual(['only'])
    expect((after['x-payment-info']!.offers[0] as { description: string }).description).toContain(': only 1/2.')
    expect(before.requestBody!.content['application/json'].example).toMatchObject({ model: 'small', max_tokens: 8 })
    expect(after.requestBody!.content['application/json'].example).toMatchObject({ model: 'only', max_tokens: 16 })
  })

  it('gives an example request that the route parses and prices, so a validator can reach the 402', async () => {
    const example = paidOperation(openApiDocument(options())).requestBody!.content['application/json'].example
    expect(chatCompletionRequestSchema.safeParse(example).success).toBe(true)
    const body = new TextEncoder().encode(JSON.stringify(example))
    const request = new Request('http://gateway.test/v1/mpp/chat/completions', { method: 'POST' })
    const quote = await chatPricing(twoModels)({ request, body } as Parameters<ReturnType<typeof chatPricing>>[0])
    expect(quote.total).toBeGreaterThan(0n)
  })

  it.each([
    ['an empty title', 'title', '', /service name/],
    ['a currency that is no address', 'currency', 'pathUSD', /20-byte hex address/],
    ['chain id 0', 'chainId', 0, /integer ≥ 1/],
    ['an empty catalogue', 'catalogue', [], /at least one model/],
    ['a model listed twice', 'catalogue', [twoModels[0], twoModels[0]], /unique/],
    ['an intent the draft does not know', 'method', { name: 'tempo', intent: 'stream' }, /charge or session/],
  ])('refuses %s', (_case, option, value, rule) => {
    let error: unknown
    try {
      openApiDocument(options({ [option]: value }))
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).subject).toMatch(new RegExp(`^openApiDocument\\.${option}`))
    expect((error as ConfigError).rule).toMatch(rule)
  })
})

describe('GET /openapi.json on the gateway', () => {
  const config = (catalogue?: ModelPrice[]): GatewayConfig => ({
    realm: 'api.example.com',
    secretKey: 'discovery-unit-test-secret-of-32-bytes',
    escrow: memoryEscrow().escrow,
    store: memoryStore(),
    recipient: '0x2222222222222222222222222222222222222222',
    currency,
    backend: localBackend(),
    ...(catalogue ? { catalogue } : {}),
  })

  it('serves the document built from the gateway’s own configuration, cacheable for five minutes', async () => {
    const { app, session } = createGateway(config(twoModels))
    const response = await app.request('/openapi.json', { headers: { 'X-Request-Id': 'req-discovery-1' } })
    expect(response.status).toBe(200)
    expect(response.headers.get('Content-Type')).toBe('application/json')
    expect(response.headers.get('Cache-Control')).toBe('max-age=300')
    expect(response.headers.get('X-Request-Id')).toBe('req-discovery-1')
    expect(await response.json()).toEqual(
      openApiDocument({ title: 'api.example.com', method: session, currency, chainId: memoryChainId, catalogue: twoModels }),
    )
    // Without a usable client id, a fresh one.
    const fresh = await app.request('/openapi.json', { headers: { 'X-Request-Id': 'not a token' } })
    expect(fresh.headers.get('X-Request-Id')).toMatch(/^req_/)
  })

  it('documents the default catalogue when none is configured', async () => {
    const { app } = createGateway(config())
    const document = (await (await app.request('/openapi.json')).json()) as ReturnType<typeof openApiDocument>
    expect(paidOperation(document).requestBody!.content['application/json'].schema.properties.model.enum).toEqual(['local-echo'])
  })

  it('documents every route the app serves, except itself, the voucher-only GET of the completions path and the catch-alls', async () => {
    const { app } = createGateway(config())
    const document = (await (await app.request('/openapi.json')).json()) as ReturnType<typeof openApiDocument>
    const documented = Object.entries(document.paths as Record<string, object>).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    )
    // `ALL`: middleware (`*`) and the 405 answer to other methods on the paid path.
    const served = new Set(app.routes.filter((route) => route.method !== 'ALL').map((route) => `${route.method} ${route.path}`))
    expect([...served].sort()).toEqual([...documented, 'GET /openapi.json', 'GET /v1/mpp/chat/completions'].sort())
  })
})
