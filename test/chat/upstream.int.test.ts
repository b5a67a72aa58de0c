import { inspect } from 'node:util'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { openAiUpstream } from '../../src/chat/openai-upstream.js'
import type { ChatCompletionRequest } from '../../src/chat/types.js'
import { UpstreamError, upstreamErrorSpec, upstreamProblem } from '../../src/chat/upstream-error.js'
import { ProblemError } from '../../src/errors/payment-error.js'
import { errorResponse, problemResponse } from '../../src/errors/problem.js'
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js'
import { closedPort } from '../support/ports.js'

const apiKey = 'sk-upstream-test-key-9f8e7d6c5b4a'
const prompt = 'Secret prompt text 4711 that must never be echoed'
/** How late a timeout may fire on a loaded machine. */
const slackMs = 300
let fake: FakeUpstream

beforeAll(async () => {
  fake = await startFakeUpstream()
})
afterAll(async () => {
  await fake?.stop()
})
beforeEach(async () => {
  await fake.reset()
})

const request = (model: string, extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model,
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: prompt },
  ],
  max_tokens: 50,
  ...extra,
})

const upstream = (options: { timeoutMs?: number; headers?: Record<string, string> } = {}) =>
  openAiUpstream({ baseUrl: fake.baseUrl, apiKey, ...options })

/** Runs `promise`, expects it to reject with an UpstreamError, and returns that error. */
async function upstreamError(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(UpstreamError)
  return error as UpstreamError
}

/** Every way an error could be shown or logged. */
const renderings = (error: UpstreamError) => [
  error.message,
  error.detail,
  String(error),
  inspect(error, { depth: 8 }),
  JSON.stringify(error),
]

describe('openAiUpstream against a fake OpenAI-compatible process', () => {
  it('returns the completion with the upstream usage, sends the key and turns streaming off', async () => {
    const completion = await upstream().complete(request('usage:12,34', { stream: true }))
    expect(completion.usage).toEqual({ prompt_tokens: 12, completion_tokens: 34, total_tokens: 46 })
    expect(completion.choices[0]?.message.content).toBe('Fake upstream reply.')
    expect(completion.system_fingerprint).toBe('fake-upstream') // unknown fields pass through
    expect(await fake.calls()).toBe(1)
    const last = await fake.lastRequest()
    expect(last?.path).toBe('/v1/chat/completions')
    expect(last?.authorization).toBe(`Bearer ${apiKey}`)
    expect(last?.body).toMatchObject({ model: 'usage:12,34', max_tokens: 50, stream: false })
  })

  it('sends no Authorization header without a key, and steers by the X-Fake-Upstream header too', async () => {
    const backend = openAiUpstream({ baseUrl: `${fake.baseUrl}/`, headers: { 'X-Fake-Upstream': 'ok:3,4' } })
    const completion = await backend.complete(request('gpt-4o-mini'))
    expect(completion.usage).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 })
    expect(completion.model).toBe('gpt-4o-mini')
    expect((await fake.lastRequest())?.authorization).toBeNull()
  })

  it('maps a refused connection to upstream_unavailable (502, retryable)', async () => {
    const backend = openAiUpstream({ baseUrl: `http://127.0.0.1:${await closedPort()}/v1`, apiKey })
    const error = await upstreamError(backend.complete(request('ok')))
    expect(error).toMatchObject({ code: 'upstream_unavailable', status: 502, retryable: true, upstreamStatus: undefined })
  })

  it('maps a reset connection to upstream_unavailable', async () => {
    const error = await upstreamError(upstream().complete(request('hangup')))
    expect(error).toMatchObject({ code: 'upstream_unavailable', status: 502, retryable: true })
    expect(await fake.calls()).toBe(1)
  })

  it('maps a failed DNS lookup to upstream_unavailable', async () => {
    // `.invalid` never resolves (RFC 6761); the generous timeout keeps a slow resolver from turning it into a timeout.
    const backend = openAiUpstream({ baseUrl: 'http://upstream.invalid/v1', apiKey, timeoutMs: 20_000 })
    const error = await upstreamError(backend.complete(request('ok')))
    expect(error).toMatchObject({ code: 'upstream_unavailable', status: 502, retryable: true })
  })

  it('times out a silent upstream within timeoutMs plus slack (upstream_timeout, 504)', async () => {
    const timeoutMs = 300
    const started = performance.now()
    const error = await upstreamError(upstream({ timeoutMs }).complete(request('stall:never')))
    const elapsed = performance.now() - started
    expect(error).toMatchObject({ code: 'upstream_timeout', status: 504, retryable: true })
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 5)
    expect(elapsed).toBeLessThan(timeoutMs + slackMs)
  })

  it('times out an upstream that sends headers but stalls the body', async () => {
    const started = performance.now()
    const error = await upstreamError(upstream({ timeoutMs: 300 }).complete(request('stall-body:5000')))
    expect(error.code).toBe('upstream_timeout')
    expect(performance.now() - started).toBeLessThan(300 + slackMs)
  })

  it('waits for a slow upstream that answers within timeoutMs', async () => {
    const completion = await upstream({ timeoutMs: 2_000 }).complete(request('stall:150'))
    expect(completion.usage.total_tokens).toBe(15)
  })

  it('maps 429 to upstream_rate_limited and passes Retry-After on', async () => {
    const error = await upstreamError(upstream().complete(request('fail:429')))
    expect(error).toMatchObject({ code: 'upstream_rate_limited', status: 429, retryable: true, retryAfter: 7, upstreamStatus: 429 })
  })

  it('defaults Retry-After to 1 s when the upstream sent none, and reads the HTTP-date form', async () => {
    expect((await upstreamError(upstream().complete(request('fail:429:none')))).retryAfter).toBe(1)
    const inTwentySeconds = new Date(Date.now() + 20_000).toUTCString()
    const dated = await upstreamError(upstream().complete(request(`fail:429:${inTwentySeconds}`)))
    expect(dated.retryAfter).toBeGreaterThanOrEqual(18)
    expect(dated.retryAfter).toBeLessThanOrEqual(20)
  })

  it.each([500, 502, 503])('maps upstream %i to upstream_<status>, HTTP 502, retryable', async (status) => {
    const error = await upstreamError(upstream().complete(request(`fail:${status}`)))
    expect(error).toMatchObject({ code: `upstream_${status}`, status: 502, retryable: true, upstreamStatus: status })
    expect(await fake.calls()).toBe(1) // no hidden retries: the client decides
  })

  it.each([400, 401, 404, 422])('maps upstream %i to upstream_<status> with the same status, not retryable', async (status) => {
    const error = await upstreamError(upstream().complete(request(`fail:${status}`)))
    expect(error).toMatchObject({ code: `upstream_${status}`, status, retryable: false, upstreamStatus: status })
    // The upstream's identifier code is passed on; its message (which echoes the prompt) is not.
    expect(error.upstreamCode).toBe(`fake_${status}`)
    expect(error.detail).toContain(`fake_${status}`)
  })

  it.each(['no-usage', 'garbage'])('maps a 2xx %s body to upstream_invalid_response (502, retryable)', async (model) => {
    const error = await upstreamError(upstream().complete(request(model)))
    expect(error).toMatchObject({ code: 'upstream_invalid_response', status: 502, retryable: true })
  })

  it('maps the caller aborting to upstream_aborted (499, retryable), promptly', async () => {
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    const started = performance.now()
    const error = await upstreamError(upstream({ timeoutMs: 5_000 }).complete(request('stall:never'), { signal: controller.signal }))
    expect(error).toMatchObject({ code: 'upstream_aborted', status: 499, retryable: true })
    expect(performance.now() - started).toBeLessThan(100 + slackMs)
    expect(await fake.calls()).toBe(1)
  })

  it('does not call the upstream when the signal is already aborted', async () => {
    const error = await upstreamError(upstream().complete(request('ok'), { signal: AbortSignal.abort() }))
    expect(error.code).toBe('upstream_aborted')
    expect(await fake.calls()).toBe(0)
  })

  it('never shows the key, the prompt or the upstream body in any error', async () => {
    const refused = openAiUpstream({ baseUrl: `http://127.0.0.1:${await closedPort()}/v1`, apiKey })
    const attempts = [
      () => refused.complete(request('ok')),
      () => upstream({ timeoutMs: 200 }).complete(request('stall:never')),
      ...['hangup', 'fail:429', 'fail:500', 'fail:400', 'fail:401', 'no-usage', 'garbage'].map(
        (model) => () => upstream().complete(request(model)),
      ),
    ]
    for (const attempt of attempts) {
      const error = await upstreamError(attempt())
      for (const text of renderings(error)) {
        expect(text).not.toContain(apiKey)
        expect(text).not.toContain('4711')
        expect(text).not.toContain('Fake failure')
      }
      expect(error.detail.length).toBeLessThan(200)
    }
  })

  it('rejects a malformed base URL when constructed, not on the first request', () => {
    expect(() => openAiUpstream({ baseUrl: 'not a url' })).toThrow()
  })
})

describe('rendering an UpstreamError in the error envelope', () => {
  it('gives each code its problem type, error type and Retry-After', async () => {
    const cases = [
      { model: 'fail:429', status: 429, type: 'upstream-rate-limited', errorType: 'rate_limit_error', retryAfter: '7' },
      { model: 'fail:503', status: 502, type: 'upstream-error', errorType: 'upstream_error', retryAfter: null },
      { model: 'fail:404', status: 404, type: 'upstream-error', errorType: 'upstream_error', retryAfter: null },
      { model: 'garbage', status: 502, type: 'upstream-error', errorType: 'upstream_error', retryAfter: null },
    ]
    for (const expected of cases) {
      const error = await upstreamError(upstream().complete(request(expected.model)))
      const response = problemResponse(upstreamProblem(error), { requestId: 'req_test' })
      expect(response.status).toBe(expected.status)
      expect(response.headers.get('Retry-After')).toBe(expected.retryAfter)
      expect(response.headers.get('WWW-Authenticate')).toBeNull()
      const body = (await response.json()) as { type: string; code: string; retryable: boolean; error: { type: string } }
      expect(body).toMatchObject({
        type: `https://paymentauth.org/problems/${expected.type}`,
        code: error.code,
        retryable: error.retryable,
      })
      expect(body.error.type).toBe(expected.errorType)
    }
  })

  it('is a ProblemError carrying the same spec, so a route can rethrow it to the middleware', async () => {
    const error = await upstreamError(upstream().complete(request('fail:429')))
    expect(error).toBeInstanceOf(ProblemError)
    expect(error.spec).toEqual(upstreamErrorSpec(error))
    const response = errorResponse(error, { requestId: 'req_test' })
    expect(response.status).toBe(429)
    expect(response.headers.get('Retry-After')).toBe('7')
    expect(((await response.json()) as { code: string }).code).toBe('upstream_rate_limited')
  })

  it('has a spec for timeouts, unavailability and aborts', () => {
    const timeout = new UpstreamError({ code: 'upstream_timeout', status: 504, retryable: true, detail: 'd' })
    expect(upstreamErrorSpec(timeout)).toEqual({
      status: 504,
      type: 'upstream-timeout',
      title: 'Upstream Timeout',
      retryable: true,
      challenge: false,
      errorType: 'timeout_error',
    })
    const unavailable = new UpstreamError({ code: 'upstream_unavailable', status: 502, retryable: true, detail: 'd' })
    expect(upstreamErrorSpec(unavailable)).toMatchObject({ status: 502, type: 'upstream-unavailable', errorType: 'upstream_error' })
    expect(upstreamErrorSpec(UpstreamError.aborted())).toMatchObject({ status: 499, retryable: true, challenge: false })
  })
})
