/**
 * One structured line per request the payment middleware decided on. Its fields
 * are the whole record: the `Authorization` header, signatures, secrets and
 * request or response bodies are never part of it.
 */
export type PaymentLogEntry = {
  requestId: string
  /** `METHOD /path`. */
  route: string
  status: number
  /** `paid`, or the error code that answered the request. */
  code: string
  method?: string
  intent?: string
  channelId?: string
  /** Decimal strings, base units. */
  amounts?: Record<string, string>
  /**
   * Operator events: facts an operator acts on. `quote_shortfall`: the
   * handler reported a cost above the quote; the charge stopped at the quote
   * and `amounts.shortfall` went unpaid (a pricing rule quotes too low).
   * `payee_cannot_pay_fees`: a close was not sent because the payee cannot
   * pay its fee (fund the payee; `GET /health` shows its balance).
   */
  events?: string[]
  durationMs: number
  /** For an unexpected error: its class name only (messages can carry request data). */
  error?: string
}

export type PaymentLogger = (entry: PaymentLogEntry) => void

/** Writes each entry as one JSON line to the console (Workers and Node collect it). */
export const consoleLogger: PaymentLogger = (entry) => {
  console.log(JSON.stringify(entry))
}
