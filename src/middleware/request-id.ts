import { createMiddleware } from 'hono/factory'
import { resolveRequestId } from '../payment/request-id.js'

/**
 * Gives every request an id (the client's `X-Request-Id` when it is a short
 * safe token, else a fresh one), shared with the payment middleware, and puts
 * it on every response the app sends: routes, errors, 404s, 405s.
 */
export function requestId() {
  return createMiddleware<{ Variables: { requestId: string } }>(async function requestIdMiddleware(c, next) {
    const id = resolveRequestId(c.req.header('X-Request-Id'))
    c.set('requestId', id)
    await next()
    if (c.res.headers.has('X-Request-Id')) return
    try {
      c.res.headers.set('X-Request-Id', id)
    } catch {
      // A fetched response's headers are immutable: answer with a copy.
      const response = c.res
      c.res = undefined
      c.res = new Response(response.body, response)
      c.res.headers.set('X-Request-Id', id)
    }
  })
}
