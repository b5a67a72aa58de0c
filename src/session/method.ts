import type { Context } from 'hono'
import type { Address, Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import type { Escrow, OnChainChannel } from '../escrow/port.js'
import type { Authorization, PaymentMethod } from '../middleware/method.js'
import { Challenge, type JsonObject } from '../protocol/challenge.js'
import type { Credential } from '../protocol/credential.js'
import type { Receipt } from '../protocol/receipt.js'
import { Receipt as ReceiptFormat } from '../protocol/receipt.js'
import type { ChannelUpdate, IdempotencyRecord, SessionStore } from '../store/port.js'
import {
  acceptVoucher,
  assertInvariant,
  assertUsable,
  assertWithinDeposit,
  bucketed,
  type ChannelState,
  channelFromChain,
  commit,
  expectedSigner,
  InsufficientAuthorization,
  release,
  requiredCumulative,
  reserve,
  settleableVoucher,
  withChain,
} from './channel.js'
import { parseSessionPayload, type SessionPayload, sourceAddress } from './payload.js'
import type { Pricing } from './pricing.js'
import { rateLimiter } from './rate-limit.js'
import { canonicalSignature, recoverVoucherSigner } from './voucher.js'

export type TempoSessionOptions = {
  escrow: Escrow
  store: SessionStore
  /** The payee: channels must pay this address. Lowercase or not; normalised. */
  recipient: Address
  /** The TIP-20 token channels must hold. */
  currency: Address
  pricing: Pricing
  /** Smallest increase a new voucher must add. Default 0 (any increase). */
  minVoucherDelta?: bigint
  /** Smallest deposit an `open` may carry. Default 1.00 token (1,000,000 base units). */
  minDeposit?: bigint
  /** Deposit suggested in challenges for new channels. Default 10 × minDeposit. */
  suggestedDeposit?: bigint
  /** How long a read of on-chain channel state is trusted (ms). Default 5,000. */
  chainCacheTtl?: number
  /** How long a reservation holds funds before it lapses (ms); keep it above the handler's timeout. Default 60,000. */
  reservationTtl?: number
  /** Vouchers are asked for in whole buckets of this size (base units), so most requests need none. Default 1 (no rounding). */
  bucketSize?: bigint
  /** An accepted voucher older than this (ms) must be refreshed before it pays new reservations. Default: never expires. */
  bucketTtl?: number
  /** New voucher signatures verified per channel per second before `mpp_rate_limited`. Default 10. */
  verificationsPerSecond?: number
  /** Operator containment on the verified payer (`mpp_payer_not_allowed`). */
  payers?: { allow?: readonly Address[]; deny?: readonly Address[]; check?: (payer: Address) => boolean | Promise<boolean> }
  /** How long a paid response is kept for `Idempotency-Key` retries (ms). Default 24 h. */
  idempotencyTtl?: number
  /** How long a retry waits for the original request still in flight (ms). Default: reservationTtl. */
  idempotencyWait?: number
  /** Settle on-chain once this much is spent but unsettled. Default: only on explicit `settle`. */
  settleThreshold?: bigint
  /** Receives errors of background settlements (which never affect a response). */
  onBackgroundError?: (error: unknown) => void
  now?: () => number
}

/** What a handler behind the middleware reads as `c.var.payment`. */
export type SessionPayment = {
  channelId: Hex
  payer: Address
  challengeId: string
  /** Held for this request until commit. */
  reserved: bigint
}

const maxIdempotencyKey = /^[\x21-\x7e]{1,255}$/
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const methodName = 'tempo'
const intent = 'session'

/**
 * The Tempo `session` payment method (sessionProtocol v1, contract escrow):
 * verifies open/topUp transactions and vouchers against the escrow, keeps the
 * channel accounting in the store, reserves before the handler and commits the
 * actual cost after it.
 */
export function tempoSession(options: TempoSessionOptions) {
  const { escrow, store, pricing } = options
  const recipient = options.recipient.toLowerCase() as Address
  const currency = options.currency.toLowerCase() as Address
  const minVoucherDelta = options.minVoucherDelta ?? 0n
  const minDeposit = options.minDeposit ?? 1_000_000n
  const suggestedDeposit = options.suggestedDeposit ?? minDeposit * 10n
  const chainCacheTtl = options.chainCacheTtl ?? 5_000
  const reservationTtl = options.reservationTtl ?? 60_000
  const bucketSize = options.bucketSize ?? 1n
  const idempotencyTtl = options.idempotencyTtl ?? 86_400_000
  const idempotencyWait = options.idempotencyWait ?? reservationTtl
  const takeVerification = rateLimiter(options.verificationsPerSecond ?? 10, options.now)
  const allowed = options.payers?.allow && new Set(options.payers.allow.map((payer) => payer.toLowerCase()))
  const denied = new Set((options.payers?.deny ?? []).map((payer) => payer.toLowerCase()))
  const now = options.now ?? Date.now
  const onBackgroundError =
    options.onBackgroundError ?? ((error: unknown) => console.error(`settlement failed: ${error instanceof Error ? error.name : 'error'}`))
  const voucherContext = { chainId: escrow.chainId, escrow: escrow.address }
  const settling = new Set<Hex>()

  const verificationFailed = (detail: string, channelId?: Hex, problemType?: string) =>
    new PaymentError('mpp_payment_verification_failed', detail, {
      ...(channelId ? { extensions: { channelId } } : {}),
      ...(problemType ? { problemType } : {}),
    })

  // Every write goes through here, so no adapter can persist a broken invariant.
  function update<T>(channelId: Hex, change: (state: ChannelState | undefined) => ChannelUpdate<T>) {
    return store.updateChannel(channelId, (current) => {
      const next = change(current)
      if (next.state !== undefined) assertInvariant(next.state)
      return next
    })
  }

  function assertOurs(channelId: Hex, chain: OnChainChannel) {
    if (chain.payee !== recipient || chain.token !== currency) {
      throw verificationFailed('The channel pays another payee or token than this server asks for.', channelId)
    }
  }

  /** Merges a fresh read of the channel from the escrow into the store. */
  async function readChain(channelId: Hex): Promise<ChannelState> {
    const readAt = now()
    const chain = await escrow.getChannel(channelId)
    if (chain === undefined) {
      throw new PaymentError('mpp_channel_not_found', 'No such channel on the escrow.', { extensions: { channelId } })
    }
    if (chain.finalized && /^0x0{40}$/.test(chain.payer)) {
      // The deployed escrow deletes a closed channel and keeps only `finalized`: nothing else to merge.
      await update(channelId, (state) => ({ ...(state ? { state: { ...state, finalized: true } } : {}), result: undefined }))
      throw new PaymentError('mpp_channel_finalized', 'The channel is closed.', { extensions: { channelId } })
    }
    assertOurs(channelId, chain)
    return update(channelId, (state) => {
      const next = state === undefined ? channelFromChain(channelId, chain, readAt) : withChain(state, chain, readAt)
      return { state: next, result: next }
    })
  }

  /** The channel's state, with on-chain fields no older than the cache lifetime. */
  async function loadChannel(channelId: Hex): Promise<ChannelState> {
    const state = await store.getChannel(channelId)
    if (state !== undefined && (state.finalized || now() - state.chainReadAt < chainCacheTtl)) return state
    return readChain(channelId)
  }

  function assertSource(credential: Credential, state: ChannelState) {
    if (credential.source === undefined) return
    const address = sourceAddress(credential.source, escrow.chainId)
    if (address === undefined || (address !== state.payer && address !== expectedSigner(state))) {
      throw verificationFailed(
        "The credential's source is not this channel's payer or authorized signer.",
        state.channelId,
        'session/signer-mismatch',
      )
    }
  }

  async function assertPayerAllowed({ payer, channelId }: { payer: Address; channelId: Hex }) {
    const refused =
      denied.has(payer) ||
      (allowed !== undefined && !allowed.has(payer)) ||
      (options.payers?.check !== undefined && !(await options.payers.check(payer)))
    if (refused)
      throw new PaymentError('mpp_payer_not_allowed', 'This payer is not allowed to use this service.', { extensions: { channelId } })
  }

  /** Recovers a voucher's signer, at most `verificationsPerSecond` times per channel: signature recovery is the costly step. */
  async function recoverSigner(channelId: Hex, amount: bigint, signature: Hex) {
    const retryAfter = takeVerification(channelId)
    if (retryAfter !== undefined) {
      throw new PaymentError('mpp_rate_limited', 'Too many vouchers on this channel; slow down.', { retryAfter, extensions: { channelId } })
    }
    return recoverVoucherSigner(voucherContext, { channelId, cumulativeAmount: amount, signature })
  }

  /**
   * Verifies a voucher against the channel and persists it when it advances the
   * channel. Cheap checks first: a stale or repeated voucher costs no ECDSA.
   * Returns whether the accepted amount advanced.
   */
  async function verifyVoucher(
    initial: ChannelState,
    amount: bigint,
    rawSignature: Hex,
  ): Promise<{ state: ChannelState; advanced: boolean }> {
    let state = initial
    const signature = canonicalSignature(rawSignature)
    if (amount < state.acceptedCumulative) {
      throw verificationFailed(`The voucher amount is below the accepted cumulative amount ${state.acceptedCumulative}.`, state.channelId)
    }
    const latest = state.vouchers.at(-1)
    if (amount === state.acceptedCumulative && latest?.signature === signature) return { state, advanced: false }
    if (amount > state.acceptedCumulative) {
      if (amount - state.acceptedCumulative < minVoucherDelta) {
        throw verificationFailed(`The voucher must add at least ${minVoucherDelta}.`, state.channelId, 'session/delta-too-small')
      }
      // The payer may have topped up since the last read.
      if (amount > state.deposit) state = await readChain(state.channelId)
      assertWithinDeposit(state, amount)
    }
    assertUsable(state)
    if ((await recoverSigner(state.channelId, amount, signature)) !== expectedSigner(state)) {
      throw verificationFailed("The voucher is not signed by the channel's authorized signer.", state.channelId, 'session/signer-mismatch')
    }
    if (amount === state.acceptedCumulative) return { state, advanced: false }
    const accepted = await update(state.channelId, (current) => {
      const next = acceptVoucher(current ?? state, { amount, signature }, { minDelta: minVoucherDelta, now: now() })
      return { state: next, result: next }
    })
    return { state: accepted, advanced: true }
  }

  function receiptFor(credential: Credential, state: ChannelState, extra: Partial<Receipt> = {}): Receipt {
    return {
      method: methodName,
      intent,
      status: 'success',
      timestamp: new Date(now()).toISOString(),
      reference: state.channelId,
      challengeId: credential.challenge.id,
      channelId: state.channelId,
      acceptedCumulative: state.acceptedCumulative.toString(),
      spent: state.spent.toString(),
      ...extra,
    }
  }

  /** Reserves the request's quote and hands the request to the handler. */
  async function serve(
    context: Context,
    credential: Credential,
    state: ChannelState,
    voucherAdvanced: boolean,
    requestKey: string | undefined,
  ): Promise<Authorization<SessionPayment>> {
    const { channelId } = state
    const quote = await pricing.quote(context)
    if (!voucherAdvanced && options.bucketTtl !== undefined && now() - state.acceptedAt > options.bucketTtl) {
      throw insufficient(state, requiredCumulative(state, quote.total), false, 'The accepted voucher bucket expired.')
    }
    if (requestKey !== undefined) {
      const existing = await store.claimRequest(requestKey, now() + reservationTtl)
      if (existing !== undefined) return replay(requestKey, existing)
    }
    const reservationId = crypto.randomUUID()
    try {
      await update(channelId, (current) => ({
        state: reserve(current ?? state, reservationId, quote.total, now() + reservationTtl, now()),
        result: undefined,
      }))
    } catch (error) {
      if (requestKey !== undefined) await store.releaseRequest(requestKey)
      if (error instanceof InsufficientAuthorization) throw insufficient(error.state, error.required, voucherAdvanced)
      if (error instanceof PaymentError) throw error
      throw new PaymentError('mpp_reservation_failed', 'The payment could not be reserved; nothing was charged. Retry shortly.', {
        cause: error,
      })
    }
    return {
      kind: 'serve',
      payment: { channelId, payer: state.payer, challengeId: credential.challenge.id, reserved: quote.total },
      log: { channelId, amounts: { reserved: quote.total } },
      async commit(handled) {
        const cost = pricing.cost(handled, quote)
        const body = requestKey === undefined ? undefined : await handled.res.clone().text()
        type Stored = NonNullable<ChannelUpdate<unknown>['completeRequest']>
        const {
          state: committed,
          charged,
          receipt,
        } = await update<{ state: ChannelState; charged: bigint; receipt: Receipt }>(channelId, (current) => {
          if (current === undefined) throw new PaymentError('mpp_commit_failed', 'The channel vanished from the store.')
          const result = commit(current, reservationId, cost.amount, now())
          const receipt = receiptFor(credential, result.state, { units: cost.units })
          if (requestKey === undefined || body === undefined) return { state: result.state, result: { ...result, receipt } }
          // The response an Idempotency-Key retry replays is written with the charge, atomically: a crash keeps both or neither.
          const headers = {
            'Content-Type': handled.res.headers.get('Content-Type') ?? 'application/octet-stream',
            'Cache-Control': 'private',
            'Payment-Receipt': ReceiptFormat.format(receipt),
          }
          const stored: Stored = {
            key: requestKey,
            response: { status: handled.res.status, headers, body },
            expiresAt: now() + idempotencyTtl,
          }
          return { state: result.state, result: { ...result, receipt }, completeRequest: stored }
        })
        maybeSettle(committed)
        return { receipt, log: { amounts: { charged, spent: committed.spent, acceptedCumulative: committed.acceptedCumulative } } }
      },
      async release() {
        if (requestKey !== undefined) await store.releaseRequest(requestKey)
        await update(channelId, (current) =>
          current === undefined ? { result: undefined } : { state: release(current, reservationId), result: undefined },
        )
      },
    }
  }

  /** Maps a refused reservation to what the client must do: sign a bucket further, or top up. */
  function insufficient(
    state: ChannelState,
    required: bigint,
    voucherAdvanced: boolean,
    reason = 'The accepted voucher does not cover this request.',
  ): PaymentError {
    const numbers = { channelId: state.channelId, acceptedCumulative: state.acceptedCumulative, deposit: state.deposit }
    if (required > state.deposit) {
      return new PaymentError(
        'mpp_session_deposit_below_request_cost',
        `The channel deposit cannot cover this request; top up by at least ${required - state.deposit} and retry.`,
        {
          extensions: {
            ...numbers,
            requiredCumulative: required,
            requiredTopUp: required - state.deposit,
            suggestedDeposit: required > suggestedDeposit ? required : suggestedDeposit,
          },
        },
      )
    }
    const requiredBucket = bucketed(required, bucketSize, state.deposit)
    const extensions = { ...numbers, requiredCumulative: requiredBucket }
    if (voucherAdvanced) {
      return new PaymentError(
        'mpp_request_exceeds_voucher_bucket',
        `The new voucher does not cover this request. Sign a voucher for at least ${requiredBucket} and retry the same request body.`,
        { extensions },
      )
    }
    return new PaymentError(
      'mpp_voucher_bucket_refresh_required',
      `${reason} Sign a voucher for at least ${requiredBucket} and retry the same request body.`,
      { extensions },
    )
  }

  /** Answers an `Idempotency-Key` retry from its record, waiting while the original is in flight. */
  async function replay(requestKey: string, found: IdempotencyRecord): Promise<Authorization<SessionPayment>> {
    let record: IdempotencyRecord | undefined = found
    const deadline = now() + idempotencyWait
    while (record?.state === 'pending' && now() < deadline) {
      await sleep(25)
      record = await store.getRequest(requestKey)
    }
    if (record?.state !== 'done') {
      throw new PaymentError(
        'mpp_reservation_failed',
        'A request with this Idempotency-Key is still in flight or failed; retry it shortly.',
        { retryAfter: 1 },
      )
    }
    const { status, headers, body } = record.response
    return { kind: 'replay', response: new Response(body, { status, headers }) }
  }

  /**
   * The record key of an idempotent request: the payer's channel, the client's
   * key, and the request itself (route and body digest), so another request
   * under the same key is simply another request.
   */
  function requestKeyOf(context: Context, credential: Credential, channelId: Hex): string | undefined {
    const key = context.req.header('Idempotency-Key')
    if (key === undefined) return undefined
    if (!maxIdempotencyKey.test(key))
      throw new PaymentError('mpp_malformed_credential', 'Idempotency-Key must be 1 to 255 visible ASCII characters.')
    return [channelId, key, Challenge.opaque(credential.challenge)?.route ?? '', credential.challenge.digest ?? ''].join('|')
  }

  /**
   * A retry of a request already answered: proven by a genuine voucher of the
   * channel (the stored one costs no signature work), it gets the stored
   * response without consuming a challenge or charging.
   */
  async function storedAnswer(requestKey: string, payload: { channelId: Hex; cumulativeAmount: bigint; signature: Hex }) {
    const record = await store.getRequest(requestKey)
    if (record === undefined) return undefined
    const state = await loadChannel(payload.channelId)
    const signature = canonicalSignature(payload.signature)
    const known = state.vouchers.some((voucher) => voucher.amount === payload.cumulativeAmount && voucher.signature === signature)
    if (!known && (await recoverSigner(state.channelId, payload.cumulativeAmount, signature)) !== expectedSigner(state)) {
      throw verificationFailed("The voucher is not signed by the channel's authorized signer.", state.channelId, 'session/signer-mismatch')
    }
    return replay(requestKey, record)
  }

  async function open(
    context: Context,
    credential: Credential,
    payload: Extract<SessionPayload, { action: 'open' }>,
    requestKey: string | undefined,
  ) {
    const call = await escrow.decodeTransaction(payload.transaction)
    if (call.kind !== 'open') throw verificationFailed('The open transaction does not call open on the escrow.', payload.channelId)
    if (call.channelId !== payload.channelId)
      throw verificationFailed('The channelId does not match the open transaction.', payload.channelId)
    if (call.payee !== recipient || call.token !== currency) {
      throw verificationFailed('The open transaction pays another payee or token than the challenge asks for.', payload.channelId)
    }
    if (call.deposit < minDeposit) throw verificationFailed(`The deposit must be at least ${minDeposit}.`, payload.channelId)
    if (payload.authorizedSigner !== undefined && payload.authorizedSigner !== call.authorizedSigner) {
      throw verificationFailed('The authorizedSigner does not match the open transaction.', payload.channelId)
    }
    // Check the payer and the initial voucher before anything reaches the chain.
    await assertPayerAllowed(call)
    const signature = canonicalSignature(payload.signature)
    if ((await recoverSigner(call.channelId, payload.cumulativeAmount, signature)) !== expectedSigner(call)) {
      throw verificationFailed(
        "The initial voucher is not signed by the channel's authorized signer.",
        call.channelId,
        'session/signer-mismatch',
      )
    }
    // A retried open finds its channel already on chain and is not broadcast again.
    if ((await escrow.getChannel(call.channelId)) === undefined) await escrow.broadcast(payload.transaction)
    const state = await readChain(call.channelId)
    assertUsable(state)
    assertSource(credential, state)
    if (payload.cumulativeAmount < state.settled)
      throw verificationFailed('The initial voucher is below the settled amount.', state.channelId)
    if (payload.cumulativeAmount <= state.acceptedCumulative) return serve(context, credential, state, false, requestKey)
    // Its signature was verified above against the signer the transaction (and so the channelId) commits to.
    const accepted = await update(state.channelId, (current) => {
      const next = acceptVoucher(current ?? state, { amount: payload.cumulativeAmount, signature }, { minDelta: 0n, now: now() })
      return { state: next, result: next }
    })
    return serve(context, credential, accepted, true, requestKey)
  }

  async function voucher(
    context: Context,
    credential: Credential,
    payload: Extract<SessionPayload, { action: 'voucher' }>,
    requestKey: string | undefined,
  ) {
    const state = await loadChannel(payload.channelId)
    assertUsable(state)
    assertSource(credential, state)
    await assertPayerAllowed(state)
    const { state: current, advanced } = await verifyVoucher(state, payload.cumulativeAmount, payload.signature)
    // HEAD carries a pure voucher top-up: nothing is served, so nothing is charged.
    if (context.req.method === 'HEAD') {
      return { kind: 'respond', status: 200, receipt: receiptFor(credential, current), log: { channelId: current.channelId } } as const
    }
    return serve(context, credential, current, advanced, requestKey)
  }

  async function topUp(
    credential: Credential,
    payload: Extract<SessionPayload, { action: 'topUp' }>,
  ): Promise<Authorization<SessionPayment>> {
    const call = await escrow.decodeTransaction(payload.transaction)
    if (call.kind !== 'topUp' || call.channelId !== payload.channelId) {
      throw verificationFailed('The transaction does not top up this channel on the escrow.', payload.channelId)
    }
    if (call.additionalDeposit !== payload.additionalDeposit)
      throw verificationFailed('additionalDeposit does not match the transaction.', payload.channelId)
    const before = await loadChannel(payload.channelId)
    if (before.finalized)
      throw new PaymentError('mpp_channel_finalized', 'The channel is closed.', { extensions: { channelId: before.channelId } })
    assertSource(credential, before)
    await assertPayerAllowed(before)
    if (call.sender !== before.payer) throw verificationFailed('Only the payer can top up the channel.', before.channelId)
    const { txHash } = await escrow.broadcast(payload.transaction)
    const after = await readChain(payload.channelId)
    if (after.deposit < before.deposit + call.additionalDeposit)
      throw verificationFailed('The deposit did not grow by additionalDeposit.', after.channelId)
    return {
      kind: 'respond',
      status: 200,
      receipt: receiptFor(credential, after, { txHash }),
      log: { channelId: after.channelId, amounts: { deposit: after.deposit } },
    }
  }

  async function close(
    credential: Credential,
    payload: Extract<SessionPayload, { action: 'close' }>,
  ): Promise<Authorization<SessionPayment>> {
    const { channelId } = payload
    const state = await readChain(channelId)
    assertUsable(state)
    assertSource(credential, state)
    // Capture exactly what service consumed (or what is already settled), never a pre-authorized surplus.
    const capture = state.spent > state.settled ? state.spent : state.settled
    if (payload.cumulativeAmount !== capture) {
      throw new PaymentError('mpp_payment_verification_failed', `Sign the close voucher for exactly ${capture}, the amount spent.`, {
        extensions: { channelId, requiredCumulative: capture, acceptedCumulative: state.acceptedCumulative },
      })
    }
    const signature = canonicalSignature(payload.signature)
    if ((await recoverSigner(channelId, capture, signature)) !== expectedSigner(state))
      throw verificationFailed("The close voucher is not signed by the channel's authorized signer.", channelId, 'session/signer-mismatch')
    if (!escrow.canSubmit) {
      throw new PaymentError('mpp_session_close_unavailable', 'This server has no close signer configured; the channel stays open.', {
        extensions: { channelId },
      })
    }
    await update(channelId, (current) => {
      const live = current ?? state
      assertUsable(live)
      if (Object.keys(live.reservations).length > 0 || live.spent !== state.spent) {
        throw new PaymentError('mpp_session_close_failed', 'Requests on this channel are still in flight; retry the close shortly.', {
          extensions: { channelId },
        })
      }
      return { state: { ...live, closing: true }, result: undefined }
    })
    let txHash: Hex
    try {
      ;({ txHash } = await escrow.close(channelId, capture, signature))
    } catch (error) {
      await update(channelId, (current) => ({ ...(current ? { state: { ...current, closing: false } } : {}), result: undefined }))
      if (error instanceof PaymentError && error.code === 'mpp_session_close_unavailable') throw error
      throw new PaymentError('mpp_session_close_failed', 'The close transaction failed; the channel stays open. Retry the close.', {
        extensions: { channelId },
        cause: error,
      })
    }
    const closed = await update(channelId, (current) => {
      const next: ChannelState = {
        ...(current ?? state),
        closing: false,
        finalized: true,
        settled: capture,
        vouchers: [],
        closeTxHash: txHash,
      }
      return { state: next, result: next }
    })
    return {
      kind: 'respond',
      status: 200,
      receipt: receiptFor(credential, closed, { txHash }),
      log: { channelId, amounts: { captured: capture } },
    }
  }

  /**
   * Settles the channel on-chain up to the highest accepted voucher that does
   * not exceed `spent`; never more than was spent. Returns undefined when there
   * is nothing to settle.
   */
  async function settle(channelId: Hex): Promise<{ txHash: Hex; amount: bigint } | undefined> {
    const state = await store.getChannel(channelId)
    const voucherToSettle = state && !state.finalized ? settleableVoucher(state) : undefined
    if (voucherToSettle === undefined || settling.has(channelId)) return undefined
    settling.add(channelId)
    try {
      const { txHash } = await escrow.settle(channelId, voucherToSettle.amount, voucherToSettle.signature)
      await readChain(channelId)
      return { txHash, amount: voucherToSettle.amount }
    } finally {
      settling.delete(channelId)
    }
  }

  function maybeSettle(state: ChannelState) {
    if (options.settleThreshold === undefined || !escrow.canSubmit) return
    if (state.spent - state.settled < options.settleThreshold) return
    settle(state.channelId).catch(onBackgroundError)
  }

  const method: PaymentMethod<SessionPayment> = {
    name: methodName,
    intent,

    async challengeRequest(context, credential) {
      const quote = await pricing.quote(context)
      const methodDetails: JsonObject = { ...quote.terms, escrowContract: escrow.address, chainId: escrow.chainId, sessionProtocol: 'v1' }
      if (minVoucherDelta > 0n) methodDetails.minVoucherDelta = minVoucherDelta.toString()
      const request: JsonObject = { amount: quote.unitPrice.toString(), unitType: quote.unitType, currency, recipient, methodDetails }
      // A payer who presented a channel is told how far to authorize on it.
      const channelId = credential?.payload.channelId
      const state = typeof channelId === 'string' ? await store.getChannel(channelId.toLowerCase() as Hex) : undefined
      if (state !== undefined && !state.finalized) {
        methodDetails.channelId = state.channelId
        methodDetails.requiredCumulative = bucketed(requiredCumulative(state, quote.total), bucketSize, state.deposit).toString()
      } else {
        // What a new channel's opening voucher must cover for this request.
        methodDetails.requiredCumulative = bucketed(quote.total, bucketSize).toString()
        request.suggestedDeposit = suggestedDeposit.toString()
      }
      return request
    },

    async authorize({ credential, request, context, consumeChallenge }) {
      const details = request.methodDetails as JsonObject | undefined
      if (
        request.recipient !== recipient ||
        request.currency !== currency ||
        details?.escrowContract !== escrow.address ||
        details?.chainId !== escrow.chainId
      ) {
        throw new PaymentError('mpp_invalid_challenge', 'The challenge names another payee, token or escrow than this server uses now.')
      }
      const payload = parseSessionPayload(credential.payload)
      const servesContent = (payload.action === 'open' || payload.action === 'voucher') && context.req.method !== 'HEAD'
      const requestKey = servesContent ? requestKeyOf(context, credential, payload.channelId) : undefined
      if (requestKey !== undefined && (payload.action === 'open' || payload.action === 'voucher')) {
        const answer = await storedAnswer(requestKey, payload)
        if (answer !== undefined) return answer
      }
      await consumeChallenge()
      switch (payload.action) {
        case 'open':
          return open(context, credential, payload, requestKey)
        case 'voucher':
          return voucher(context, credential, payload, requestKey)
        case 'topUp':
          return topUp(credential, payload)
        case 'close':
          return close(credential, payload)
      }
    },
  }
  return Object.assign(method, { settle })
}
