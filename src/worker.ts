// The Cloudflare Workers entry: the same Hono app as on Node (createGateway:
// chat completions, models, health), configured from the Worker's vars and
// secrets (the variable names of src/node.ts, see src/env.ts), with channel
// state, challenge ids and idempotency records in Durable Objects, the close
// watcher stepped by a Cron Trigger (`scheduled`), and the settlement sweeper
// run per channel by its Durable Object's alarm (`ChannelObject`).
// No `nodejs_compat` needed: viem, @noble/hashes, jose and hono run as they are.
import type { ScheduledController } from '@cloudflare/workers-types'
import type { ExecutionContext, Hono } from 'hono'
import { createGateway } from './app.js'
import { type GatewayEnv, gatewayConfigFromEnv } from './env.js'
import { ConfigError } from './errors/config-error.js'
import { cloudflareAddress } from './middleware/client-address.js'
import { type CloseWatcher, logWatchError } from './session/close-watch.js'
import type { TempoSession } from './session/engine.js'
import type { ChannelSweeper } from './session/sweeper.js'
import { ChannelObject as ChannelStateObject, KeyShard } from './stores/cloudflare/objects.js'
import { type DurableObjectStoreEnv, durableObjectStore } from './stores/cloudflare/store.js'

// The Durable Object classes must be exported by the Worker's main module.
export { KeyShard }

export type WorkerEnv = GatewayEnv & DurableObjectStoreEnv

type Gateway = { app: Hono; session: TempoSession; watcher: CloseWatcher | undefined; channelSweeper: ChannelSweeper | undefined }

/**
 * One gateway per isolate: the runtime hands every request of an isolate the same
 * `env` object, so the app (config parsing, viem clients, the payee's nonce
 * queue, the rate limits' front) is built on the first request and reused.
 * A new `env` (a new deployment or changed secrets) gets a new app.
 */
const gateways = new WeakMap<object, Gateway>()

function gatewayOf(env: WorkerEnv): Gateway {
  let gateway = gateways.get(env)
  if (gateway === undefined) {
    gateway = createGateway({ ...gatewayConfigFromEnv(env, durableObjectStore(env)), clientAddress: cloudflareAddress })
    gateways.set(env, gateway)
    // Once per isolate (per env): the secp256k1 backend its vouchers are recovered with (SECP256K1_BACKEND).
    console.log(JSON.stringify({ event: 'gateway_started', secp256k1: gateway.session.recoveryBackend }))
  }
  return gateway
}

export function gatewayFor(env: WorkerEnv): Hono {
  return gatewayOf(env).app
}

/** Logs a configuration error: a ConfigError names the variable and its rule, never its value; anything else is named by its class only. */
function logConfigError(error: unknown) {
  console.error(
    `gateway configuration error: ${error instanceof ConfigError ? error.message : error instanceof Error ? error.name : 'unknown'}`,
  )
}

/**
 * A channel's Durable Object with the gateway's settlement sweeper: a write
 * makes its alarm due within `SWEEP_INTERVAL_MS`, and the alarm settles,
 * closes or reconciles the channel as the Node sweeper would (README:
 * Operating a payee). One object per channel runs one alarm at a time, so no
 * two sweeps of a channel overlap, on any number of isolates.
 */
export class ChannelObject extends ChannelStateObject {
  protected override channelSweeper(): ChannelSweeper | undefined {
    try {
      return gatewayOf(this.env as WorkerEnv).channelSweeper
    } catch (error) {
      logConfigError(error)
      return undefined
    }
  }
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Promise<Response> {
    let app: Hono
    try {
      app = gatewayFor(env)
    } catch (error) {
      logConfigError(error)
      const detail = error instanceof ConfigError ? error.message : 'check the Worker variables and secrets'
      return Response.json({ error: { message: `The gateway is misconfigured: ${detail}`, type: 'server_error' } }, { status: 500 })
    }
    return app.fetch(request, env, ctx)
  },

  /**
   * The Cron Trigger (wrangler.toml `[triggers]`): one step of the close watcher per run, from the
   * cursor the Durable Objects keep, so a payer's forced close is followed (refused, settled) within a
   * run's interval. A failed step is logged by its code only (an RPC error could name the RPC URL) and
   * retried by the next run from the same cursor.
   */
  async scheduled(_controller: ScheduledController, env: WorkerEnv): Promise<void> {
    let watcher: CloseWatcher | undefined
    try {
      watcher = gatewayOf(env).watcher
    } catch (error) {
      logConfigError(error)
      return
    }
    await watcher?.step().catch(logWatchError)
  },
}
