import { PaymentError } from '../errors/payment-error.js'

/**
 * The default error sink of a background job: one JSON line on stderr with
 * `event`, and the error's code (or its class), never its message (an RPC
 * error's message can carry the RPC URL and its key).
 */
export function jobErrorLogger(event: string): (error: unknown) => void {
  return (error) => {
    const detail = error instanceof PaymentError ? { code: error.code } : { error: error instanceof Error ? error.name : typeof error }
    console.error(JSON.stringify({ event, ...detail }))
  }
}
