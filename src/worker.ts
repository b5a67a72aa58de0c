// The Cloudflare Workers entry: the same Hono app as on Node (createGateway:
// chat completions, models, health), configured from the Worker's vars and
// secrets (the variable names of src/node.ts, see src/config.ts), with channel
// state, challenge ids and idempotency records in Durable Objects.
// No `nodejs_compat` needed: viem, @noble/hashes, jose and hono run as they are.
import type { ExecutionContext, Hono } from 'hono'
import { createGateway } from './app.js'
import { type GatewayEnv, gatewayConfigFromEnv } from './config.js'
import { ChannelObject, type DurableObjectStoreEnv, durableObjectStore, KeyShard } from './store/durable-object.js'

// The Durable Object classes must be exported by the Worker's main module.
export { ChannelObject, KeyShard }

export type WorkerEnv = GatewayEnv & DurableObjectStoreEnv

/**
 * One app per isolate: the runtime hands every request of an isolate the same
 * `env` object, so the app (config parsing, viem clients, the payee's nonce
 * queue, the voucher rate limiter) is built on the first request and reused.
 * A new `env` (a new deployment or changed secrets) gets a new app.
 */
const gateways = new WeakMap<object, Hono>()

export function gatewayFor(env: WorkerEnv): Hono {
  let app = gateways.get(env)
  if (app === undefined) {
    app = createGateway(gatewayConfigFromEnv(env, durableObjectStore(env))).app
    gateways.set(env, app)
  }
  return app
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Promise<Response> {
    let app: Hono
    try {
      app = gatewayFor(env)
    } catch (error) {
      // A configuration error (a missing secret, an invalid key or catalogue). Only a missing
      // variable's name is said, in the response and the log: other messages might quote a secret.
      const missing = error instanceof Error && /^[A-Z_]+ is required$/.test(error.message) ? error.message : undefined
      console.error(`gateway configuration error: ${missing ?? (error instanceof Error ? error.name : 'unknown')}`)
      const detail = missing ?? 'check the Worker variables and secrets'
      return Response.json({ error: { message: `The gateway is misconfigured: ${detail}`, type: 'server_error' } }, { status: 500 })
    }
    return app.fetch(request, env, ctx)
  },
}
