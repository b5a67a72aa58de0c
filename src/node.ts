import { pathToFileURL } from 'node:url'
import { serve, type ServerType } from '@hono/node-server'
import { Hono } from 'hono'
import { Challenge } from './protocol/challenge.js'
import { payment } from './middleware/payment.js'
import { paymentErrorHandler } from './middleware/error-handler.js'
import { PaymentError } from './errors/payment-error.js'
import type { PaymentMethod } from './middleware/method.js'

// Until the Tempo session engine lands, the gateway can only issue challenges:
// this placeholder prices the demo route and refuses every credential.
const unconfiguredMethod: PaymentMethod<never> = {
  name: 'tempo',
  intent: 'session',
  challengeRequest: () => ({
    amount: '1000',
    unitType: 'request',
    currency: '0x20c0000000000000000000000000000000000000',
    recipient: '0x0000000000000000000000000000000000000000',
    methodDetails: { escrowContract: '0x0000000000000000000000000000000000000000', chainId: 31337, sessionProtocol: 'v1' },
  }),
  authorize: async () => {
    throw new PaymentError('mpp_payment_verification_failed', 'This build has no Tempo session engine configured yet.')
  },
}

export type GatewayOptions = { port?: number; secretKey?: string; realm?: string }

/** Starts the gateway on Node; resolves once it listens. */
export function startGateway(options: GatewayOptions = {}): Promise<{ server: ServerType; url: string }> {
  const app = new Hono()
  app.onError(paymentErrorHandler)
  app.get('/health', (c) => c.json({ ok: true }))
  app.post(
    '/v1/demo',
    payment({
      realm: options.realm ?? 'localhost',
      secretKey: options.secretKey ?? process.env.MPP_SECRET_KEY ?? 'local-development-secret-key-not-for-production',
      method: unconfiguredMethod,
    }),
    (c) => c.json({ ok: true }),
  )
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: options.port ?? 8787, hostname: '127.0.0.1' }, (info) => {
      resolve({ server, url: `http://127.0.0.1:${info.port}` })
    })
  })
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { url } = await startGateway({ port: Number(process.env.PORT ?? 8787) })
  const response = await fetch(`${url}/v1/demo`, { method: 'POST', body: '{"hello":"world"}' })
  const challenge = Challenge.parse(response.headers.get('WWW-Authenticate') ?? '') as Challenge
  console.log(`Gateway listening on ${url}`)
  console.log(`POST /v1/demo unpaid → ${response.status}, challenge:`)
  console.log(JSON.stringify({ ...challenge, request: Challenge.request(challenge), opaque: Challenge.opaque(challenge) }, null, 2))
  console.log('Paying is not possible yet: the Tempo session engine is the next step.')
  console.log(`Try: curl -i -X POST ${url}/v1/demo -d '{"hello":"world"}'`)
}
