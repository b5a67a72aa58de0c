// The Tempo `session` payment method (sessionProtocol v1, the contract escrow,
// or v2, the TIP-20 channel reserve precompile: one per engine), framework-free:
// it checks the challenge terms, parses the payload and dispatches to the
// action. Everything else lives in one module per concept (docs/architecture.md).
import type { Address, Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import type { AuthorizeParameters, PaymentMethod } from '../payment/method.js'
import type { JsonObject } from '../protocol/challenge.js'
import type { BackendName } from '../secp256k1/backend.js'
import type { ActionParameters } from './actions/action.js'
import { close } from './actions/close.js'
import { open } from './actions/open.js'
import { topUp } from './actions/top-up.js'
import { voucher } from './actions/voucher.js'
import { challengeRequest } from './challenge.js'
import type { ChannelState } from './channel.js'
import { createContext, type SessionCounters } from './context.js'
import { type CloseFollowUp, followCloseRequest } from './forced-close.js'
import { requestKeyOf, storedAnswer } from './idempotency.js'
import { takeNewChannel } from './new-channel-limit.js'
import { resolveSessionOptions, type TempoSessionOptions } from './options.js'
import type { SessionPayment } from './payment.js'
import type { Readiness } from './readiness.js'
import { intent, methodName } from './receipt.js'
import { type Reconciliation, reconcileChannel } from './reconcile.js'
import { settle } from './settlement.js'
import { nextSweepAt, payeeClose, type SweepOutcome, sweepChannel } from './sweep.js'
import { parseSessionPayload, type SessionPayload } from './v1/payload.js'
import type { ChannelDescriptor } from './v2/descriptor.js'
import { parseSessionPayloadV2 } from './v2/payload.js'
import { assertDescriptorTerms } from './v2/terms.js'

/** The session engine: a `PaymentMethod` plus the payee's own operations. */
export type TempoSession = PaymentMethod<SessionPayment> & {
  /** The payee channels must pay (lowercase). */
  readonly recipient: Address
  /** The secp256k1 backend voucher signatures are recovered with (for the start log). */
  readonly recoveryBackend: BackendName
  /**
   * Settles `channelId` on chain up to the highest accepted voucher not above `spent`; undefined when there is
   * nothing to settle, or a settlement of it is in flight (here, or claimed by another instance on the store).
   */
  settle(channelId: Hex): Promise<{ txHash: Hex; amount: bigint } | undefined>
  /**
   * Re-reads `channelId` from the chain into the store and, while a forced close is pending, settles what was
   * spent (docs/flow.md: forced close). What the close watcher runs for each close event; idempotent.
   */
  followCloseRequest(channelId: Hex): Promise<CloseFollowUp>
  /** What this engine did so far in this process (`/metrics`). */
  counters(): Readonly<SessionCounters>
  /** Sweeps one channel now (README: Operating a payee): what the settlement sweeper does to each channel. */
  sweepChannel(channelId: Hex): ReturnType<typeof sweepChannel>
  /** When `state` is next due for a sweep under this engine's limits (`nextSweepAt` in sweep.ts); `undefined`: not without a new event. */
  nextSweepAt(state: ChannelState): number | undefined
  /** Reads one channel from the chain and corrects the store; what changed. `undefined` for a channel the store does not hold open. */
  reconcileChannel(channelId: Hex): Promise<Reconciliation | undefined>
  /**
   * Closes a channel for the payee now: captures the highest accepted voucher not above `spent` and refunds
   * the rest (`busy` while requests are in flight or a close is pending).
   */
  closeChannel(channelId: Hex): Promise<SweepOutcome>
  /**
   * The payee's readiness to settle and close: whether it can sign and pay one transaction's fee,
   * read from the chain at most once per `readinessTtl`. Rejects with `mpp_chain_unavailable` when
   * the chain cannot be read.
   */
  readiness(): Promise<Readiness>
}

/**
 * The Tempo `session` payment method: verifies open/topUp transactions and
 * vouchers against the escrow, keeps the channel accounting in the store,
 * reserves before the handler and commits the actual cost after it. One
 * engine serves every route that uses it (each route brings its own pricing).
 * Options are validated here: a bad one throws a `ConfigError` at start.
 */
export function tempoSession(options: TempoSessionOptions): TempoSession {
  const settings = resolveSessionOptions(options)
  const ctx = createContext(settings, options.escrow, options.store)
  const { escrow } = ctx
  const protocol = settings.sessionProtocol
  const { recipient, currency, operator } = settings
  const terms = { escrow: escrow.address, chainId: escrow.chainId, recipient, currency, operator }

  /** The payload in this engine's protocol; a v2 descriptor checked against the channel id and the challenge's terms. */
  function parsePayload(raw: unknown): SessionPayload & { descriptor?: ChannelDescriptor } {
    if (protocol === 'v1') {
      // A v2 payload on a v1 challenge: the client must answer in the challenge's protocol (session spec §Protocol Versions).
      if (typeof raw === 'object' && raw !== null && 'descriptor' in raw) {
        throw new PaymentError('mpp_malformed_credential', 'The challenge is for session protocol v1: a payload carries no descriptor.')
      }
      return parseSessionPayload(raw)
    }
    const payload = parseSessionPayloadV2(raw)
    assertDescriptorTerms(terms, payload.channelId, payload.descriptor)
    return payload
  }

  async function authorize({ credential, request, paid, management, quote, consumeChallenge }: AuthorizeParameters) {
    const details = request.methodDetails as JsonObject | undefined
    if (
      request.recipient !== settings.recipient ||
      request.currency !== settings.currency ||
      details?.escrowContract !== escrow.address ||
      details?.chainId !== escrow.chainId ||
      details?.sessionProtocol !== protocol
    ) {
      throw new PaymentError(
        'mpp_invalid_challenge',
        'The challenge names another payee, token, escrow or session protocol than this server uses now.',
      )
    }
    const payload = parsePayload(credential.payload)
    const requestKey = management ? undefined : requestKeyOf(paid, credential, payload.channelId)
    if (requestKey !== undefined && (payload.action === 'open' || payload.action === 'voucher')) {
      const answer = await storedAnswer(ctx, requestKey, payload)
      if (answer !== undefined) return answer
    }
    // Before the challenge is used or anything costly runs: a refused open costs
    // one take, and the same credential may be sent again after Retry-After.
    if (payload.action === 'open') await takeNewChannel(ctx, paid.client)
    // A challenge pays for one delivery of content. A management action's own
    // proof is single use (a voucher advances the channel once, a transaction
    // is mined once, a channel closes once), so it may come on a challenge
    // that already paid, as the session spec's examples do.
    if (!management) await consumeChallenge()
    const common = { credential, paid, management, quote, request: requestKey }
    switch (payload.action) {
      case 'open':
        return open(ctx, { ...common, payload } satisfies ActionParameters<'open'>)
      case 'voucher':
        return voucher(ctx, { ...common, payload })
      case 'topUp':
        return topUp(ctx, { ...common, payload })
      case 'close':
        return close(ctx, { ...common, payload })
    }
  }

  return {
    name: methodName,
    intent,
    challengeRequest: (parameters) => challengeRequest(ctx, parameters),
    authorize,
    recognizes: (request) => (request.methodDetails as JsonObject | undefined)?.sessionProtocol === protocol,
    classify: ({ payload }) => ({
      management: payload.action === 'topUp' || payload.action === 'close',
      // Session spec §TopUp Payload: a topUp on an unknown or expired challenge is `challenge-not-found`.
      ...(payload.action === 'topUp' ? { invalidChallengeType: 'session/challenge-not-found' } : {}),
    }),
    recipient: settings.recipient,
    recoveryBackend: settings.recovery.name,
    settle: (channelId) => settle(ctx, channelId),
    followCloseRequest: (channelId) => followCloseRequest(ctx, channelId),
    counters: () => ({ ...ctx.counters }),
    sweepChannel: (channelId) => sweepChannel(ctx, channelId),
    nextSweepAt: (state) => nextSweepAt(state, settings, settings.now()),
    reconcileChannel: (channelId) => reconcileChannel(ctx, channelId),
    closeChannel: (channelId) => payeeClose(ctx, channelId, 'now'),
    readiness: () => ctx.readiness.read(),
  }
}
