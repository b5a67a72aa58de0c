import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { PaymentError, ProblemError } from '../errors/payment-error.js'
import { errorResponse } from '../errors/problem.js'
import { resolveRequestId } from '../payment/request-id.js'

/**
 * A Hono `onError` for apps that use the payment middleware. Hono's default
 * prints the error, and error messages can carry prompts or credentials; this
 * one prints nothing and answers in the envelope. (Inside a paid route the
 * middleware renders the error itself; this covers the rest of the app.)
 *
 * @example
 * app.onError(paymentErrorHandler)
 */
export function paymentErrorHandler(error: Error, c: Context): Response {
  if (error instanceof HTTPException) return error.getResponse()
  const requestId: string = c.get('requestId') ?? resolveRequestId(c.req.header('X-Request-Id'))
  // Codes that promise a challenge cannot be honoured without the middleware.
  const failure = error instanceof ProblemError && !error.spec.challenge ? error : PaymentError.internal(error)
  return errorResponse(failure, { requestId })
}
