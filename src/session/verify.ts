import type { Address, Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import { recoverAddress } from '../secp256k1/recover.js'
import { readChain } from './chain-state.js'
import * as Channel from './channel.js'
import type { SessionContext } from './context.js'
import { signerMismatch, verificationFailed } from './errors.js'
import { orShortfall } from './shortfall.js'
import { canonicalSignature, recoverVoucherSigner } from './v1/voucher.js'
import { SessionV2Error } from './v2/errors.js'
import { parseVoucherSignature } from './v2/signature.js'
import { voucherDigest as voucherDigestV2 } from './v2/voucher.js'

/**
 * A voucher signature in the form the escrow verifies, from byte checks alone (no ECDSA): v1 the canonical
 * 65-byte r‖s‖v (64-byte compact expanded); v2 a TIP-1020 secp256k1 envelope, 65 bytes, low s (P256, WebAuthn,
 * keychain, multisig and compact encodings refused, each with its reason).
 */
export function voucherSignature(ctx: SessionContext, signature: Hex, channelId?: Hex): Hex {
  if (ctx.settings.sessionProtocol === 'v1') return canonicalSignature(signature)
  try {
    return parseVoucherSignature(signature).signature
  } catch (error) {
    if (error instanceof SessionV2Error) throw verificationFailed(error.message, channelId, 'session/invalid-signature')
    throw error
  }
}

/** The signer of a v2 voucher (lowercase) on the session's backend: the TIP20 Channel Reserve digest, then `recoverAddress`. */
function recoverV2(ctx: SessionContext, channelId: Hex, amount: bigint, signature: Hex): Address {
  try {
    return recoverAddress(ctx.settings.recovery, voucherDigestV2(ctx.voucherContext, { channelId, cumulativeAmount: amount }), signature)
  } catch (cause) {
    throw new PaymentError('mpp_payment_verification_failed', 'The voucher signature could not be recovered.', {
      cause,
      problemType: 'session/invalid-signature',
    })
  }
}

/**
 * Recovers a voucher's signer. Each distinct voucher (channel, amount,
 * canonical signature) is recovered once per process (`ctx.recoveries`):
 * concurrent copies share the recovery and later copies find its signer. Each
 * recovery takes one unit of the channel's budget, `verificationsPerSecond`
 * across every instance sharing the store: copies of one voucher take one.
 */
export function recoverSigner(ctx: SessionContext, channelId: Hex, amount: bigint, signature: Hex): Promise<Address> {
  return ctx.recoveries.signer(`${channelId}|${amount}|${signature}`, async () => {
    const retryAfter = await ctx.rateLimit(`voucher:${channelId}`, ctx.settings.verificationsPerSecond, 1_000, channelId)
    if (retryAfter !== undefined) {
      throw new PaymentError('mpp_rate_limited', 'Too many vouchers on this channel; slow down.', { retryAfter, extensions: { channelId } })
    }
    ctx.counters.voucherVerifications++
    if (ctx.settings.sessionProtocol === 'v2') return recoverV2(ctx, channelId, amount, signature)
    return recoverVoucherSigner(ctx.voucherContext, { channelId, cumulativeAmount: amount, signature }, ctx.settings.recovery)
  })
}

/** Throws unless `signature` over (`channelId`, `amount`) recovers to `signer`. */
export async function assertSignedBy(
  ctx: SessionContext,
  voucher: { channelId: Hex; amount: bigint; signature: Hex },
  signer: Address,
  what: string,
): Promise<void> {
  if ((await recoverSigner(ctx, voucher.channelId, voucher.amount, voucher.signature)) !== signer) {
    throw signerMismatch(what, voucher.channelId)
  }
}

/**
 * Verifies a voucher against the channel and persists it when it advances the
 * channel. Cheap checks first: a stale or repeated voucher costs no ECDSA.
 *
 * The rule under concurrency (docs/flow.md §Vouchers racing each other): the
 * voucher is judged against `initial`, the state it was verified against —
 * below it is refused; equal to it is an idempotent retry; above it (by the
 * minimum delta, within the deposit) is new. A new voucher overtaken before
 * its write, by a copy of itself or a higher one, is not written and not
 * refused: the accepted state already covers what it authorizes, so the
 * request is served from that state. `advanced`: the voucher was new.
 */
export async function verifyVoucher(
  ctx: SessionContext,
  initial: Channel.ChannelState,
  amount: bigint,
  rawSignature: Hex,
): Promise<{ state: Channel.ChannelState; advanced: boolean }> {
  const { minVoucherDelta } = ctx.settings
  let state = initial
  const signature = voucherSignature(ctx, rawSignature, state.channelId)
  if (amount < state.acceptedCumulative) {
    throw new PaymentError(
      'mpp_payment_verification_failed',
      `The voucher amount is below the accepted cumulative amount ${state.acceptedCumulative}.`,
      { extensions: { channelId: state.channelId, acceptedCumulative: state.acceptedCumulative } },
    )
  }
  const latest = state.vouchers.at(-1)
  if (amount === state.acceptedCumulative && latest?.signature === signature) return { state, advanced: false }
  if (amount > state.acceptedCumulative) {
    if (amount - state.acceptedCumulative < minVoucherDelta) {
      throw verificationFailed(`The voucher must add at least ${minVoucherDelta}.`, state.channelId, 'session/delta-too-small')
    }
    // The payer may have topped up since the last read.
    if (amount > state.deposit) state = await readChain(ctx, state.channelId)
    await orShortfall(ctx, true, async () => Channel.assertWithinDeposit(state, amount))
  }
  Channel.assertUsable(state)
  await assertSignedBy(ctx, { channelId: state.channelId, amount, signature }, Channel.expectedSigner(state), 'voucher')
  if (amount === state.acceptedCumulative) return { state, advanced: false }
  return { state: await acceptNew(ctx, state, { amount, signature }), advanced: true }
}

/**
 * Writes a voucher verified as new against `verified` (above its accepted
 * amount). If the channel accepted as much or more meanwhile (a copy of this
 * voucher, or a higher one, won the write), nothing is written and the
 * accepted state is returned: it already covers what this voucher authorizes.
 */
export function acceptNew(
  ctx: SessionContext,
  verified: Channel.ChannelState,
  voucher: Channel.AcceptedVoucher,
): Promise<Channel.ChannelState> {
  return orShortfall(ctx, true, () =>
    ctx.update(verified.channelId, (current) => {
      const live = current ?? verified
      if (live.acceptedCumulative >= voucher.amount) {
        Channel.assertUsable(live)
        return { result: live }
      }
      const next = Channel.acceptVoucher(live, voucher, { now: ctx.settings.now() })
      return { state: next, result: next }
    }),
  )
}
