import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bodyDigest, Challenge, computeChallengeId, Credential } from '../src/index.js'
import { startGateway } from '../src/node.js'

const secretKey = 'node-server-test-secret-of-32-bytes+'
let gateway: Awaited<ReturnType<typeof startGateway>>

beforeAll(async () => {
  gateway = await startGateway({ port: 0, secretKey, realm: 'gateway.test' })
})
afterAll(() => {
  gateway.server.close()
})

describe('the Node entry point over real HTTP', () => {
  it('challenges an unpaid POST with a digest of the bytes that crossed the socket', async () => {
    const body = '{"model":"m","messages":[{"role":"user","content":"héllo"}]}'
    const response = await fetch(`${gateway.url}/v1/demo`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } })
    expect(response.status).toBe(402)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    const challenge = Challenge.parse(response.headers.get('WWW-Authenticate')!) as Challenge
    expect(challenge.id).toBe(computeChallengeId({ secretKey, ...challenge }))
    expect(challenge.digest).toBe(bodyDigest(new TextEncoder().encode(body)))
    expect(response.headers.get('X-Request-Id')).toBe(((await response.json()) as { requestId: string }).requestId)

    // The placeholder method refuses payment, but everything before it checked out.
    const paid = await fetch(`${gateway.url}/v1/demo`, {
      method: 'POST',
      body,
      headers: { Authorization: Credential.format({ challenge, payload: { action: 'voucher' } }) },
    })
    expect(paid.status).toBe(402)
    expect(((await paid.json()) as { code: string }).code).toBe('mpp_payment_verification_failed')
  })

  it('serves free routes untouched', async () => {
    const response = await fetch(`${gateway.url}/health`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ ok: true })
  })
})
