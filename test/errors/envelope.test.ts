import { readFileSync } from 'node:fs'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { type ErrorCode, errorCodes, problemTypeBase } from '../../src/errors/codes.js'
import { PaymentError } from '../../src/errors/payment-error.js'
import { paymentErrorHandler } from '../../src/middleware/error-handler.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { credentialFor, json, testApp } from '../support/test-method.js'

const codes = Object.keys(errorCodes) as ErrorCode[]

// The rows of the contract's table: | `code` | HTTP | problem type | retryable | challenge | when |
const contract = new Map(
  readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
    .split('\n')
    .map((line) => /^\| `([a-z_]+)` \| (\d{3}) \| `([^`]+)`.*?\| (true|false) \| (fresh|none) \|/.exec(line))
    .filter((match) => match !== null)
    .map(([, code, status, type, retryable, challenge]) => [
      code!,
      { status: Number(status), type: type!, retryable: retryable === 'true', challenge: challenge === 'fresh' },
    ]),
)

describe('the error table', () => {
  it('has exactly the codes of docs/errors.md, with the same status, type, retryable and challenge', () => {
    expect(new Set(codes)).toEqual(new Set(contract.keys()))
    for (const code of codes) {
      const { status, type, retryable, challenge } = errorCodes[code]
      expect({ code, status, type, retryable, challenge }).toEqual({ code, ...contract.get(code) })
    }
  })

  it('gives every 429 and 503 a Retry-After', () => {
    for (const spec of Object.values(errorCodes)) {
      if (spec.status === 429 || spec.status === 503) expect('retryAfter' in spec).toBe(true)
    }
  })
})

describe.each(codes)('the envelope of %s', (code) => {
  const spec = errorCodes[code]

  it(`is ${spec.status} ${spec.type}, retryable=${spec.retryable}, challenge=${spec.challenge}`, async () => {
    const { app } = testApp()
    const body = { hello: 'world' }
    const unpaid = await app.request('/v1/echo', json(body))
    const response =
      code === 'payment_required'
        ? unpaid
        : await app.request(
            '/v1/echo',
            json(body, { Authorization: credentialFor(unpaid, { fail: code }), 'X-Request-Id': 'req-under-test' }),
          )
    const requestId = code === 'payment_required' ? response.headers.get('X-Request-Id')! : 'req-under-test'

    expect(response.status).toBe(spec.status)
    expect(response.headers.get('Content-Type')).toBe('application/problem+json')
    expect(response.headers.get('X-Request-Id')).toBe(requestId)
    expect(response.headers.get('Payment-Receipt')).toBeNull()
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    if (spec.status === 429 || spec.status === 503) expect(Number(response.headers.get('Retry-After'))).toBeGreaterThan(0)
    else expect(response.headers.get('Retry-After')).toBeNull()

    const header = response.headers.get('WWW-Authenticate')
    const envelope = (await response.json()) as Record<string, unknown>
    if (spec.challenge) {
      const challenge = Challenge.parse(header!) as Challenge
      expect(envelope.challengeId).toBe(challenge.id)
    } else {
      expect(header).toBeNull()
      expect(envelope).not.toHaveProperty('challengeId')
    }

    // Problem Details half.
    expect(envelope).toMatchObject({
      type: problemTypeBase + spec.type,
      title: spec.title,
      status: spec.status,
      detail: expect.any(String),
      code,
      retryable: spec.retryable,
      requestId,
    })
    // OpenAI half.
    expect(envelope.error).toEqual({
      message: envelope.detail,
      type: spec.errorType,
      code,
      param: null,
      retryable: spec.retryable,
      request_id: requestId,
    })
    // Extension members, amounts as decimal strings.
    if (code !== 'payment_required') expect(envelope).toMatchObject({ channelId: '0xab', requiredCumulative: '2000000' })
  })
})

describe('paymentErrorHandler', () => {
  it('renders errors outside paid routes in the envelope without logging or leaking them', async () => {
    const app = new Hono()
    app.onError(paymentErrorHandler)
    app.get('/boom', () => {
      throw new Error('secret prompt text')
    })
    app.get('/limited', () => {
      throw new PaymentError('mpp_rate_limited', 'Slow down.', { retryAfter: 3 })
    })
    const boom = await app.request('/boom')
    expect(boom.status).toBe(500)
    const text = await boom.text()
    expect(JSON.parse(text)).toMatchObject({ code: 'mpp_internal_error' })
    expect(text).not.toContain('secret prompt text')
    const limited = await app.request('/limited', { headers: { 'X-Request-Id': 'abc' } })
    expect(limited.status).toBe(429)
    expect(limited.headers.get('Retry-After')).toBe('3')
    expect(limited.headers.get('X-Request-Id')).toBe('abc')
  })
})
