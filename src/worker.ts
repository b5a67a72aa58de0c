// The Cloudflare Workers entry: the same Hono app as on Node (createGateway:
// chat completions, models, health), configured from the Worker's vars and
// secrets (the variable names of src/node.ts, see src/env.ts), with channel
// state, challenge ids and idempotency records in Durable Objects.
// No `nodejs_compat` needed: viem, @noble/hashes, jose and hono run as they are.
import type { ExecutionContext, Hono } from 'hono'
import { createGateway } from './app.js'
import { type GatewayEnv, gatewayConfigFromEnv } from './env.js'
import { ConfigError } from './errors/config-error.js'
import { cloudflareAddress } from './middleware/client-address.js'
import { ChannelObject, KeyShard } from './stores/cloudflare/objects.js'
import { type DurableObjectStoreEnv, durableObjectStore } from './stores/cloudflare/store.js'

// The Durable Object classes must be exported by the Worker's main module.
export { ChannelObject, KeyShard }

export type WorkerEnv = GatewayEnv & DurableObjectStoreEnv

/**
 * One app per isolate: the runtime hands every request of an isolate the same
 * `env` object, so the app (config parsing, viem clients, the payee's nonce
 * queue, the rate limits' front) is built on the first request and reused.
 * A new `env` (a new deployment or changed secrets) gets a new app.
 */
const gateways = new WeakMap<object, Hono>()

export function gatewayFor(env: WorkerEnv): Hono {
  let app = gateways.get(env)
  if (app === undefined) {
    app = createGateway({ ...gatewayConfigFromEnv(env, durableObjectStore(env)), clientAddress: cloudflareAddress }).app
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
      // A ConfigError names the variable and its rule, never its value; anything else is named by its class only.
      const detail = error instanceof ConfigError ? error.message : 'check the Worker variables and secrets'
      console.error(
        `gateway configuration error: ${error instanceof ConfigError ? error.message : error instanceof Error ? error.name : 'unknown'}`,
      )
      return Response.json({ error: { message: `The gateway is misconfigured: ${detail}`, type: 'server_error' } }, { status: 500 })
    }
    return app.fetch(request, env, ctx)
  },
}
