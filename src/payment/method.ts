import type { JsonObject } from '../protocol/challenge.js'
import type { Credential } from '../protocol/credential.js'
import type { Receipt } from '../protocol/receipt.js'
import type { Cost, Quote } from './pricing.js'
import type { PaidRequest } from './request.js'

/** Safe-to-log facts about a payment: ids and amounts, never credentials or content. */
export type PaymentLogFields = {
  channelId?: string
  /** Amounts in base units. */
  amounts?: Record<string, bigint>
  /** Operator events the request raised (see `PaymentLogEntry.events`). */
  events?: string[]
}

/** Method-specific response headers sent beside `Payment-Receipt` (e.g. a v2 session's snapshot). */
export type ReceiptHeaders = Record<string, string>

/** What the handler's answer was, for the method to charge (or not). */
export type Served = {
  /** The handler's 2xx response (its body unread). */
  response: Response
  /** What it reported having consumed (default: the whole quote). */
  cost: Cost
}

/**
 * The method's verdict on a credential.
 * - `serve`: the payment covers the request; the route's handler runs, then the
 *   payment layer calls `commit` after a 2xx answer or `release` otherwise.
 * - `respond`: a management action (e.g. a session `topUp` or `close`) that is
 *   complete in itself; the handler does not run.
 * - `replay`: an `Idempotency-Key` retry answered with the stored response of
 *   the original, receipt included; nothing new is charged.
 */
export type Authorization<TPayment> =
  | {
      kind: 'serve'
      /** What the handler reads as its payment. */
      payment: TPayment
      log?: PaymentLogFields
      /** Charges what the response consumed and returns its receipt. Throwing withholds the response. */
      commit(served: Served): Promise<{ receipt: Receipt; headers?: ReceiptHeaders; log?: PaymentLogFields }>
      /** Undoes whatever was held for this request; nothing is charged. */
      release(): Promise<void>
    }
  | { kind: 'respond'; status: 200 | 204; receipt: Receipt; headers?: ReceiptHeaders; log?: PaymentLogFields }
  | { kind: 'replay'; response: Response; log?: PaymentLogFields }

export type ChallengeParameters = {
  paid: PaidRequest
  /** The route's price for this request. */
  quote: Quote
  /** The credential whose failure this challenge answers, if any: lets the method tailor it (e.g. the payer's channel). */
  credential?: Credential | undefined
}

export type AuthorizeParameters = {
  /** The parsed credential; its challenge binding, realm, route, expiry and body digest are already verified. */
  credential: Credential
  /** The decoded `request` of the echoed challenge, as this server issued it. */
  request: JsonObject
  paid: PaidRequest
  /**
   * A management request: it asks for no content (the route's `servesContent`
   * says so, or the credential's action never delivers any). Its challenge was
   * checked for the resource, not the method and body, and it is answered
   * with a receipt (`respond`), never served.
   */
  management: boolean
  /** The route's price for this request, computed on first use (zero for a management request). */
  quote(): Promise<Quote>
  /**
   * Marks the credential's challenge used, throwing `mpp_invalid_challenge` if it
   * already was. The method must call it before the credential pays for
   * anything; only an idempotent replay of a stored response may skip it.
   */
  consumeChallenge(): Promise<void>
}

/**
 * A payment method as the payment layer sees it: it writes a challenge's
 * `request` and judges a credential. The Tempo session engine implements this;
 * the payment layer owns everything method-independent (binding, expiry,
 * digest, envelope, receipts). No web framework: plain requests and values.
 */
export interface PaymentMethod<TPayment = unknown> {
  /** Payment method identifier (lowercase ASCII letters), e.g. `tempo`. */
  readonly name: string
  /** Payment intent, e.g. `session`. */
  readonly intent: string
  /**
   * The `request` object of a fresh challenge. Must not change state: an
   * unpaid request only ever gets a challenge. May throw a `PaymentError`.
   */
  challengeRequest(parameters: ChallengeParameters): JsonObject | Promise<JsonObject>
  /** Verifies the credential's payload; throws a `PaymentError` when it does not pay. */
  authorize(parameters: AuthorizeParameters): Promise<Authorization<TPayment>>
  /**
   * What a credential is, before anything about it is verified: `management`
   * when its payload never delivers content (e.g. a session topUp or close),
   * and the problem type an unknown, expired or foreign challenge gets for it
   * (default `invalid-challenge`).
   */
  classify?(credential: Credential): CredentialClass
  /**
   * Whether a challenge `request` is one this method issued: needed only when a
   * route offers two methods of the same name and intent (e.g. session protocols
   * v1 and v2), to send each credential to its own.
   */
  recognizes?(request: JsonObject): boolean
}

export type CredentialClass = { management: boolean; invalidChallengeType?: string }
