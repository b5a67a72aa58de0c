import type { Context } from 'hono'
import type { JsonObject } from '../protocol/challenge.js'
import type { Credential } from '../protocol/credential.js'
import type { Receipt } from '../protocol/receipt.js'

/** Safe-to-log facts about a payment: ids and amounts, never credentials or content. */
export type PaymentLogFields = {
  channelId?: string
  /** Amounts in base units. */
  amounts?: Record<string, bigint>
}

/**
 * The method's verdict on a credential.
 * - `serve`: the payment covers the request; the route handler runs, then the
 *   middleware calls `commit` after a 2xx answer or `release` otherwise.
 * - `respond`: a management action (e.g. a session `topUp` or `close`) that is
 *   complete in itself; the handler does not run.
 */
export type Authorization<TPayment> =
  | {
      kind: 'serve'
      /** What the handler reads as `c.var.payment`. */
      payment: TPayment
      log?: PaymentLogFields
      /** Charges what the response consumed and returns its receipt. Throwing withholds the response. */
      commit(context: Context): Promise<{ receipt: Receipt; log?: PaymentLogFields }>
      /** Undoes whatever was held for this request; nothing is charged. */
      release(): Promise<void>
    }
  | {
      kind: 'respond'
      status: 200 | 204
      receipt: Receipt
      log?: PaymentLogFields
    }
  | {
      /** An `Idempotency-Key` retry: the stored response of the original, receipt included; nothing new is charged. */
      kind: 'replay'
      response: Response
      log?: PaymentLogFields
    }

export type AuthorizeParameters = {
  /** The parsed credential; its challenge binding, realm, route, expiry and body digest are already verified. */
  credential: Credential
  /** The decoded `request` of the echoed challenge, as this server issued it. */
  request: JsonObject
  context: Context
  /**
   * Marks the credential's challenge used, throwing `mpp_invalid_challenge` if it
   * already was. The method must call it before the credential pays for
   * anything; only an idempotent replay of a stored response may skip it.
   */
  consumeChallenge(): Promise<void>
}

/**
 * A payment method as the middleware sees it: it prices a challenge and judges
 * a credential. The Tempo session engine implements this; the middleware owns
 * everything method-independent (binding, expiry, digest, envelope, receipts).
 */
export interface PaymentMethod<TPayment = unknown> {
  /** Payment method identifier (lowercase ASCII letters), e.g. `tempo`. */
  readonly name: string
  /** Payment intent, e.g. `session`. */
  readonly intent: string
  /**
   * The `request` object of a fresh challenge for this HTTP request. Must not
   * change state: an unpaid request only ever gets a challenge. When a
   * credential was presented (the challenge answers its failure), it is passed
   * so the method can tailor the request (e.g. the payer's channel). May throw a
   * `PaymentError` (e.g. `mpp_request_quote_invalid`).
   */
  challengeRequest(context: Context, credential?: Credential): JsonObject | Promise<JsonObject>
  /** Verifies the credential's payload; throws a `PaymentError` when it does not pay. */
  authorize(parameters: AuthorizeParameters): Promise<Authorization<TPayment>>
}
