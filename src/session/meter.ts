// A metered stream (session spec §Per-Request Processing step 3, §Insufficient
// Balance During Streaming): the route charges each window of content before
// delivering it, each charge one write moving money into `spent`; when the
// channel cannot cover the next window it waits for a voucher; at the end the
// total is made what was delivered. Framework-free: the route drives it.
import type { Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import type { ReceiptHeaders } from '../payment/method.js'
import type { Cost } from '../payment/pricing.js'
import type { Credential } from '../protocol/credential.js'
import type { Receipt } from '../protocol/receipt.js'
import { Receipt as ReceiptFormat } from '../protocol/receipt.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'
import type { RequestKey } from './idempotency.js'
import { receiptFor } from './receipt.js'
import { maybeSettle } from './settlement.js'
import type { CompletedRequest } from './store.js'
import { snapshotHeaders } from './v2/snapshot-headers.js'

/** What the payer must sign before the stream goes on: the `payment-need-voucher` event's data. */
export type VoucherNeed = {
  channelId: Hex
  /** The cumulative voucher that covers the next window, rounded up to the voucher bucket (above `deposit`: top up first). */
  requiredCumulative: bigint
  acceptedCumulative: bigint
  deposit: bigint
  /** The least cumulative amount that covers the next window: what the stream waits for. */
  minimum: bigint
}

export type WindowCharge = { charged: true; receipt: Receipt } | { charged: false; need: VoucherNeed }

/** The stream's response as an `Idempotency-Key` retry replays it, made once its final receipt is known. */
export type StoredStream = (receipt: Receipt) => { contentType: string; body: string }

export type Meter = {
  /** Charges `amount` before the content it pays for is delivered; or what the payer must sign first. */
  charge(amount: bigint): Promise<WindowCharge>
  /**
   * Waits until the channel in the store covers `need.minimum` (a voucher or
   * topUp on any instance sharing the store), reading it every `pollMs`:
   * false on `timeoutMs`, on `signal`, or when the channel stops serving.
   */
  waitForVoucher(need: VoucherNeed, options: { timeoutMs: number; pollMs: number; signal?: AbortSignal }): Promise<boolean>
  /**
   * Ends the stream charging `cost` in total (what was delivered), frees the
   * reservation, and stores `stored` for an `Idempotency-Key` retry in the same
   * write (without it, a key is released: a retry runs again). Once only.
   */
  end(cost: Cost, stored?: StoredStream): Promise<{ receipt: Receipt; charged: bigint }>
  /** Charged so far, base units. */
  readonly charged: bigint
  /** The receipt of the last write: the stream's initial `Payment-Receipt`. */
  readonly receipt: Receipt
  /** The headers beside that receipt (a v2 channel's snapshot of the same write). */
  readonly headers: ReceiptHeaders
}

export type MeterParameters = {
  credential: Credential
  state: Channel.ChannelState
  reservationId: string
  request: RequestKey | undefined
}

export function meter(ctx: SessionContext, parameters: MeterParameters): Meter {
  const { credential, reservationId, request } = parameters
  const { channelId } = parameters.state
  const { now, reservationTtl, idempotencyTtl, bucketSize } = ctx.settings
  let charged = 0n
  let receipt = receiptFor(ctx, credential, parameters.state)
  let headers = snapshotHeaders(ctx, parameters.state)
  let ended: Promise<{ receipt: Receipt; charged: bigint }> | undefined

  function needOf(state: Channel.ChannelState, minimum: bigint): VoucherNeed {
    const requiredCumulative = minimum > state.deposit ? minimum : Channel.bucketed(minimum, bucketSize, state.deposit)
    return { channelId, requiredCumulative, acceptedCumulative: state.acceptedCumulative, deposit: state.deposit, minimum }
  }

  async function end(cost: Cost, stored?: StoredStream) {
    type Ended = { state: Channel.ChannelState; charged: bigint; receipt: Receipt }
    const result = await ctx.update<Ended>(channelId, (current) => {
      if (current === undefined) throw new PaymentError('mpp_commit_failed', 'The channel vanished from the store.')
      const next = Channel.endStream(current, reservationId, charged, cost.amount, now())
      const final = receiptFor(ctx, credential, next.state, { units: cost.units })
      const outcome = { state: next.state, result: { ...next, receipt: final } }
      if (request === undefined || stored === undefined) return outcome
      const { contentType, body } = stored(final)
      const storedHeaders = {
        'Content-Type': contentType,
        'Cache-Control': 'private',
        'Payment-Receipt': ReceiptFormat.format(final),
        ...snapshotHeaders(ctx, next.state),
      }
      const completeRequest: CompletedRequest = {
        key: request.key,
        response: { status: 200, headers: storedHeaders, body },
        expiresAt: now() + idempotencyTtl,
      }
      return { ...outcome, completeRequest }
    })
    if (request !== undefined && stored === undefined) await ctx.store.releaseRequest(channelId, request.key)
    charged = result.charged
    receipt = result.receipt
    headers = snapshotHeaders(ctx, result.state)
    maybeSettle(ctx, result.state)
    return { receipt: result.receipt, charged: result.charged }
  }

  return {
    get charged() {
      return charged
    },
    get receipt() {
      return receipt
    },
    get headers() {
      return headers
    },
    async charge(amount) {
      try {
        const state = await ctx.update(channelId, (current) => {
          if (current === undefined) throw new PaymentError('mpp_commit_failed', 'The channel vanished from the store.')
          const next = Channel.chargeWindow(current, reservationId, amount, now() + reservationTtl, now())
          return { state: next, result: next }
        })
        charged += amount
        receipt = receiptFor(ctx, credential, state)
        headers = snapshotHeaders(ctx, state)
        return { charged: true, receipt }
      } catch (error) {
        if (error instanceof Channel.InsufficientAuthorization) return { charged: false, need: needOf(error.state, error.required) }
        throw error
      }
    },
    async waitForVoucher(need, { timeoutMs, pollMs, signal }) {
      const deadline = now() + timeoutMs
      while (now() < deadline && signal?.aborted !== true) {
        await pause(Math.min(pollMs, Math.max(deadline - now(), 0)), signal)
        const state = await ctx.store.getChannel(channelId)
        if (state === undefined || state.finalized || state.closing || state.closeRequestedAt !== 0n) return false
        if (state.acceptedCumulative >= need.minimum) return true
      }
      return false
    },
    end(cost, stored) {
      ended ??= end(cost, stored)
      return ended
    },
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
