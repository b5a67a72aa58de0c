// `Idempotency-Key` (session spec §Request Idempotency): a retried paid
// request gets the stored response of the original, receipt included, without
// a new charge; a retry while the original runs waits for it.
import type { Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import type { Authorization } from '../payment/method.js'
import type { PaidRequest } from '../payment/request.js'
import type { Credential } from '../protocol/credential.js'
import { sleep } from '../util/sleep.js'
import { loadChannel } from './chain-state.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'
import type { SessionPayment } from './payment.js'
import type { IdempotencyRecord } from './store.js'
import { canonicalSignature } from './v1/voucher.js'
import { assertSignedBy } from './verify.js'

const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/

/** An idempotent request: its channel and its record key. */
export type RequestKey = { channelId: Hex; key: string }

/**
 * The record key of an idempotent request: the client's key and the request
 * itself (route and body digest), so another request under the same key is
 * simply another request. The record belongs to the payer's channel.
 */
export function requestKeyOf(paid: PaidRequest, credential: Credential, channelId: Hex): RequestKey | undefined {
  const key = paid.request.headers.get('Idempotency-Key')
  if (key === null) return undefined
  if (!idempotencyKeyPattern.test(key)) {
    throw new PaymentError('mpp_malformed_credential', 'Idempotency-Key must be 1 to 255 visible ASCII characters.')
  }
  return { channelId, key: [key, paid.route, credential.challenge.digest ?? ''].join('|') }
}

/** Answers a retry from its record, waiting while the original is in flight. */
export async function replay(ctx: SessionContext, request: RequestKey, found: IdempotencyRecord): Promise<Authorization<SessionPayment>> {
  const { now, idempotencyWait } = ctx.settings
  let record: IdempotencyRecord | undefined = found
  const deadline = now() + idempotencyWait
  while (record?.state === 'pending' && now() < deadline) {
    await sleep(25)
    record = await ctx.store.getRequest(request.channelId, request.key)
  }
  if (record?.state !== 'done') {
    throw new PaymentError(
      'mpp_reservation_failed',
      'A request with this Idempotency-Key is still in flight or failed; retry it shortly.',
      {
        retryAfter: 1,
      },
    )
  }
  const { status, headers, body } = record.response
  return { kind: 'replay', response: new Response(body, { status, headers }) }
}

/**
 * A retry of a request already answered: proven by a genuine voucher of the
 * channel (the stored one costs no signature work), it gets the stored
 * response without consuming a challenge or charging.
 */
export async function storedAnswer(
  ctx: SessionContext,
  request: RequestKey,
  voucher: { cumulativeAmount: bigint; signature: Hex },
): Promise<Authorization<SessionPayment> | undefined> {
  const record = await ctx.store.getRequest(request.channelId, request.key)
  if (record === undefined) return undefined
  // A stored answer's channel is one this gateway has served: never new, nothing to count.
  const state = await loadChannel(ctx, request.channelId, undefined)
  const signature = canonicalSignature(voucher.signature)
  const known = state.vouchers.some((accepted) => accepted.amount === voucher.cumulativeAmount && accepted.signature === signature)
  if (!known) {
    await assertSignedBy(
      ctx,
      { channelId: state.channelId, amount: voucher.cumulativeAmount, signature },
      Channel.expectedSigner(state),
      'voucher',
    )
  }
  return replay(ctx, request, record)
}
