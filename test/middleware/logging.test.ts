import { Hono } from 'hono'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { paymentErrorHandler } from '../../src/middleware/error-handler.js'
import { payment } from '../../src/middleware/payment.js'
import { fixedPrice } from '../../src/payment/pricing.js'
import { memoryStore } from '../../src/stores/memory.js'
import { credentialFor, json, secretKey, testMethod } from '../support/test-method.js'

const prompt = 'TOP-SECRET-PROMPT-4f1c'
const completion = 'PRIVATE-COMPLETION-9b2e'
const signature = `0x${'5a'.repeat(65)}`

afterEach(() => {
  vi.restoreAllMocks()
})

// Everything written to the console while `run` executes.
async function captureConsole(run: () => Promise<void>) {
  const lines: string[] = []
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((arg) => (arg instanceof Error ? `${arg.stack}` : typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '))
    })
  }
  await run()
  return lines
}

describe('payment middleware logging', () => {
  it('writes one structured line per decided request and never a credential, signature, secret or body', async () => {
    const sent: string[] = []
    const lines = await captureConsole(async () => {
      const { method } = testMethod()
      const failing = testMethod({ commitError: new Error(`commit failed for ${prompt}`) })
      const ports = { challenges: memoryStore(), pricing: fixedPrice(100n) }
      const app = new Hono()
      app.onError(paymentErrorHandler)
      // The default logger (console) on every route.
      app.post('/v1/chat', payment({ realm: 'api.example.com', secretKey, method, ...ports }), async (c) => {
        const input = await c.req.json<{ prompt: string }>()
        return c.json({ completion, echoed: input.prompt.length })
      })
      app.post('/v1/throws', payment({ realm: 'api.example.com', secretKey, method, ...ports }), () => {
        throw new Error(`handler failed on ${prompt}`)
      })
      app.post('/v1/commit-fails', payment({ realm: 'api.example.com', secretKey, method: failing.method, ...ports }), (c) =>
        c.json({ completion }),
      )

      const request = async (path: string, payload: Record<string, unknown>) => {
        const unpaid = await app.request(path, json({ prompt }))
        const authorization = credentialFor(unpaid, { ...payload, signature })
        sent.push(authorization, authorization.slice('Payment '.length))
        return app.request(path, json({ prompt }, { Authorization: authorization }))
      }
      expect((await request('/v1/chat', { proof: 'paid' })).status).toBe(200)
      expect((await request('/v1/chat', { proof: 'wrong' })).status).toBe(402)
      expect((await request('/v1/chat', { action: 'manage' })).status).toBe(204)
      expect((await request('/v1/throws', { proof: 'paid' })).status).toBe(500)
      expect((await request('/v1/commit-fails', { proof: 'paid' })).status).toBe(503)
      const malformed = await app.request('/v1/chat', json({ prompt }, { Authorization: `Payment ${signature}==` }))
      expect(malformed.status).toBe(402)
    })

    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(entries.map((entry) => [entry.route, entry.status, entry.code])).toEqual([
      ['POST /v1/chat', 402, 'payment_required'],
      ['POST /v1/chat', 200, 'paid'],
      ['POST /v1/chat', 402, 'payment_required'],
      ['POST /v1/chat', 402, 'mpp_payment_verification_failed'],
      ['POST /v1/chat', 402, 'payment_required'],
      ['POST /v1/chat', 204, 'paid'],
      ['POST /v1/throws', 402, 'payment_required'],
      ['POST /v1/throws', 500, 'mpp_internal_error'],
      ['POST /v1/commit-fails', 402, 'payment_required'],
      ['POST /v1/commit-fails', 503, 'mpp_commit_failed'],
      ['POST /v1/chat', 402, 'mpp_malformed_credential'],
    ])
    for (const entry of entries) {
      expect(entry).toMatchObject({
        requestId: expect.stringMatching(/^req_/),
        method: 'test',
        intent: 'charge',
        durationMs: expect.any(Number),
      })
    }
    expect(entries[1]).toMatchObject({ channelId: '0xchannel', amounts: { reserved: '100', charged: '100' } })
    expect(entries[7]!.error).toBe('Error')
    expect(entries[9]!.error).toBe('Error')

    const output = lines.join('\n')
    for (const forbidden of [...sent, signature, secretKey, prompt, completion, 'authorization', 'Authorization']) {
      expect(output).not.toContain(forbidden)
    }
  })
})
