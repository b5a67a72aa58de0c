import type { Context } from 'hono'
import { PaymentError } from '../errors/payment-error.js'
import { errorResponse } from '../errors/problem.js'
import { resolveRequestId } from '../payment/request-id.js'

/** A route handler for the methods a path does not take: 405 in the envelope, with `Allow`. */
export function methodNotAllowed(allowed: readonly string[]) {
  const allow = allowed.join(', ')
  return (c: Context) => {
    const failure = new PaymentError('method_not_allowed', `This route takes ${allow}.`)
    const response = errorResponse(failure, { requestId: c.get('requestId') ?? resolveRequestId(c.req.header('X-Request-Id')) })
    response.headers.set('Allow', allow)
    return response
  }
}

/** The app's answer to a path it does not serve: 404 in the envelope. */
export function notFound(c: Context): Response {
  const failure = new PaymentError('not_found', `No route for ${c.req.method} ${c.req.path}.`)
  return errorResponse(failure, { requestId: c.get('requestId') ?? resolveRequestId(c.req.header('X-Request-Id')) })
}
