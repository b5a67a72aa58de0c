// Where a request comes from: the engine limits opens per client address
// (`PaidRequest.client`). Only the deployment knows which source of it to
// trust, so each entry picks one of these.
import type { Context } from 'hono'

/** The address of the client that sent a request, or `undefined` when it cannot be told. */
export type ClientAddress = (c: Context) => string | undefined

/** The connection's peer, on @hono/node-server (`c.env.incoming` is Node's request). */
export const socketAddress: ClientAddress = (c) =>
  (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress

/** On Cloudflare Workers: `CF-Connecting-IP`, set by Cloudflare on every request (a client's own is replaced). Nowhere else. */
export const cloudflareAddress: ClientAddress = (c) => c.req.header('CF-Connecting-IP')

/**
 * Behind `proxies` trusted reverse proxies, each appending the address it was
 * sent the request from to `X-Forwarded-For`: the address the outermost one
 * saw, the `proxies`-th entry from the right (entries left of it are whatever
 * the client wrote). A header with fewer entries did not pass them all: then
 * the socket's peer. Sound only if the gateway is reachable through them alone.
 */
export function forwardedAddress(proxies: number): ClientAddress {
  return (c) => {
    const entries = (c.req.header('X-Forwarded-For') ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '')
    return entries.length >= proxies ? entries[entries.length - proxies] : socketAddress(c)
  }
}
