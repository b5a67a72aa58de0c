// Where a request comes from, read by the Hono glue on a real Node server:
// connections leave from chosen loopback addresses, so the socket's peer is
// known, and X-Forwarded-For is trusted only as far as the configured proxies.
import { type ServerType, serve } from '@hono/node-server'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ClientAddress, cloudflareAddress, forwardedAddress, socketAddress } from '../../src/middleware/client-address.js'
import { payment } from '../../src/middleware/payment.js'
import type { PaymentMethod } from '../../src/payment/method.js'
import { fixedPrice } from '../../src/payment/pricing.js'
import { memoryStore } from '../../src/stores/memory.js'
import { fetchFrom } from '../support/fetch-from.js'
import { secretKey } from '../support/test-method.js'

const resolvers: Record<string, ClientAddress> = {
  socket: socketAddress,
  oneProxy: forwardedAddress(1),
  twoProxies: forwardedAddress(2),
  cloudflare: cloudflareAddress,
}
// What the payment method was handed as the request's client, per request.
const seen: (string | undefined)[] = []
const recording: PaymentMethod = {
  name: 'test',
  intent: 'charge',
  challengeRequest({ paid }) {
    seen.push(paid.client)
    return { amount: '1', currency: 'usd', recipient: 'acct_1' }
  },
  authorize: () => Promise.reject(new Error('not paid here')),
}

let server: ServerType
let url: string
beforeAll(async () => {
  const app = new Hono()
  app.get('/whence', (c) => c.json(Object.fromEntries(Object.entries(resolvers).map(([name, resolve]) => [name, resolve(c) ?? null]))))
  const paid = { realm: 'test', secretKey, method: recording, challenges: memoryStore(), pricing: fixedPrice(1n), logger: () => {} }
  app.post('/paid', payment({ ...paid, clientAddress: socketAddress }), (c) => c.text('never'))
  app.post('/anonymous', payment(paid), (c) => c.text('never'))
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      url = `http://127.0.0.1:${info.port}`
      resolve()
    })
  })
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

describe("a request's client address", () => {
  it('is the socket peer; X-Forwarded-For counts only from the right, as many entries as trusted proxies', async () => {
    const whence = async (headers: Record<string, string> = {}) =>
      (await (await fetchFrom('127.0.0.2')(`${url}/whence`, { headers })).json()) as object
    expect(await whence()).toEqual({ socket: '127.0.0.2', oneProxy: '127.0.0.2', twoProxies: '127.0.0.2', cloudflare: null })
    // The client wrote the first entry; the proxies appended the other two.
    expect(await whence({ 'X-Forwarded-For': '192.0.2.66, 203.0.113.9,198.51.100.2', 'CF-Connecting-IP': '192.0.2.77' })).toEqual({
      socket: '127.0.0.2',
      oneProxy: '198.51.100.2',
      twoProxies: '203.0.113.9',
      cloudflare: '192.0.2.77',
    })
    // Fewer entries than proxies: the request did not come through them all.
    expect(await whence({ 'X-Forwarded-For': '192.0.2.66' })).toMatchObject({ oneProxy: '192.0.2.66', twoProxies: '127.0.0.2' })
  })

  it("reaches the payment method as the PaidRequest's client when the middleware is given a resolver, else stays unknown", async () => {
    seen.length = 0
    expect((await fetchFrom('127.0.0.3')(`${url}/paid`, { method: 'POST', body: '{}' })).status).toBe(402)
    expect((await fetchFrom('127.0.0.3')(`${url}/anonymous`, { method: 'POST', body: '{}' })).status).toBe(402)
    expect(seen).toEqual(['127.0.0.3', undefined])
  })

  it('is resolved by a function, or the middleware refuses to start', () => {
    const build = () =>
      payment({
        realm: 'test',
        secretKey,
        method: recording,
        challenges: memoryStore(),
        pricing: fixedPrice(1n),
        clientAddress: 'socket' as never,
      })
    expect(build).toThrow(expect.objectContaining({ subject: 'payment.clientAddress', rule: expect.stringMatching(/function/) }))
  })
})
