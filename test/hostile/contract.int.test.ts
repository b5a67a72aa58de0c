// The error contract everywhere on the gateway process (docs/errors.md): every
// answer carries X-Request-Id, what no route serves is a 404 envelope, a method
// the paid route does not take is a 405 with Allow, an unknown model a 404
// model_not_found, and a voucher or a request beyond the deposit a 402 that
// says how much deposit would do — none of them changing anything. The
// official OpenAI SDK, pointed at the gateway's /v1/mpp, reads it as OpenAI.
import OpenAI from 'openai'
import { describe, expect, it } from 'vitest'
import {
  challengeFor,
  chatBody,
  completionsPath,
  credential,
  expectProblem,
  gateway,
  newPayer,
  openChannel,
  post,
  send,
  snapshot,
  upstream,
  voucher,
} from './support.js'
import { catalogue, models } from './target.js'

describe('X-Request-Id on every response', () => {
  it.each([
    ['GET', '/v1/models', 200],
    ['GET', '/v1/mpp/models', 200],
    ['GET', '/health', 200],
    ['GET', '/openapi.json', 200],
    ['GET', completionsPath, 402],
    ['HEAD', completionsPath, 402],
  ])('%s %s (%i)', async (method, path, status) => {
    const response = await gateway.fetch(path, { method })
    expect(response.status).toBe(status)
    expect(response.headers.get('X-Request-Id')).toMatch(/^req_[A-Za-z0-9_-]{22}$/)
  })

  it("echoes a client's short safe id and replaces anything else", async () => {
    const echoed = await gateway.fetch('/v1/models', { headers: { 'X-Request-Id': 'client-trace.42:a' } })
    expect(echoed.headers.get('X-Request-Id')).toBe('client-trace.42:a')
    for (const unsafe of ['has space', 'x'.repeat(65), 'quote"d', '<script>']) {
      const replaced = await gateway.fetch('/v1/models', { headers: { 'X-Request-Id': unsafe } })
      expect(replaced.headers.get('X-Request-Id')).toMatch(/^req_[A-Za-z0-9_-]{22}$/)
    }
    // On an error too, and in its body.
    const problem = await expectProblem(await gateway.fetch('/nowhere', { headers: { 'X-Request-Id': 'trace-404' } }), 'not_found')
    expect(problem.requestId).toBe('trace-404')
  })
})

describe('what no route serves', () => {
  it.each([
    ['GET', '/nowhere'],
    ['POST', '/v1/chat/completions'],
    ['DELETE', '/v1/models/usage:40,60'],
    ['GET', '/v1/mpp/chat/completions/extra'],
    ['GET', '/%2e%2e/etc/passwd'],
  ])('%s %s is a 404 not_found envelope', async (method, path) => {
    await expectProblem(await gateway.fetch(path, { method, ...(method === 'POST' ? { body: '{}' } : {}) }), 'not_found')
  })

  it.each(['PUT', 'DELETE', 'PATCH', 'OPTIONS'])('%s on the paid route is a 405 with Allow, paid or not', async (method) => {
    const body = method === 'DELETE' || method === 'OPTIONS' ? {} : { body: chatBody(models.fixed) }
    const response = await gateway.fetch(completionsPath, { method, ...body })
    expect(response.headers.get('Allow')).toBe('POST, GET, HEAD')
    await expectProblem(response, 'method_not_allowed')
  })
})

describe('requests the gateway cannot sell', () => {
  it('an unknown model is a 404 model_not_found, never a challenge, and reaches no upstream', async () => {
    const calls = await upstream.calls()
    for (const model of ['gpt-unknown', 'USAGE:40,60', 'usage:40,60 ', 'x'.repeat(10_000)]) {
      const problem = await expectProblem(await send(post(chatBody(model))), 'model_not_found')
      // The model is named, shortened: a 10,000-character id is not echoed whole.
      expect(problem.detail.length).toBeLessThan(200)
    }
    expect(await upstream.calls()).toBe(calls)
  })

  it('a voucher above the deposit is mpp_session_deposit_below_request_cost with suggestedDeposit; nothing changes', async () => {
    const channel = await openChannel(await newPayer(), 1_000_000n, 100_000n)
    const before = await snapshot(channel)
    const body = chatBody(models.fixed)
    const response = await send(post(body), credential(await challengeFor(post(body)), await voucher(channel, 1_000_001n)))
    const problem = await expectProblem(response, 'mpp_session_deposit_below_request_cost')
    expect(problem).toMatchObject({
      channelId: channel.channelId,
      deposit: '1000000',
      acceptedCumulative: '100000',
      requiredCumulative: '1000001',
      requiredTopUp: '900001',
    })
    expect(BigInt(problem.suggestedDeposit as string)).toBeGreaterThanOrEqual(1_000_001n)
    expect(await snapshot(channel)).toEqual(before)
  })

  it('a request costing more than the deposit is mpp_session_deposit_below_request_cost; nothing changes', async () => {
    const channel = await openChannel(await newPayer(), 1_000_000n)
    const before = await snapshot(channel)
    // 60,000 completion tokens at 20 are 1,200,000 before the prompt: above the whole deposit.
    const body = chatBody(models.large, 'Write a long story.', 60_000)
    const response = await send(post(body), credential(await challengeFor(post(body)), await voucher(channel, 1_000_000n)))
    const problem = await expectProblem(response, 'mpp_session_deposit_below_request_cost')
    const required = BigInt(problem.requiredCumulative as string)
    expect(required).toBeGreaterThan(1_200_000n)
    expect(problem).toMatchObject({ deposit: '1000000', acceptedCumulative: '1000000', requiredTopUp: (required - 1_000_000n).toString() })
    expect(BigInt(problem.suggestedDeposit as string)).toBeGreaterThanOrEqual(required)
    expect(await snapshot(channel)).toEqual(before)
  })
})

describe('the official openai SDK against the gateway process', () => {
  const sdk = () => new OpenAI({ baseURL: `${gateway.url}/v1/mpp`, apiKey: 'unused', maxRetries: 0 })

  it('lists the models with its baseURL at /v1/mpp', async () => {
    const listed = await sdk().models.list()
    expect(listed.data.map((model) => model.id)).toEqual(catalogue.map((model) => model.id))
  })

  it('sees an unpaid completion as a 402 API error carrying the code, and nothing reaches the upstream', async () => {
    const calls = await upstream.calls()
    const unpaid = sdk().chat.completions.create({ model: models.fixed, max_tokens: 10, messages: [{ role: 'user', content: 'Hello' }] })
    await expect(unpaid).rejects.toMatchObject({ status: 402, code: 'payment_required', type: 'payment_required' })
    expect(await upstream.calls()).toBe(calls)
  })
})
