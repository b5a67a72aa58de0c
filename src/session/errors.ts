import type { Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'

/** `mpp_payment_verification_failed`, with the channel and a more specific problem type where one applies. */
export function verificationFailed(detail: string, channelId?: Hex, problemType?: string): PaymentError {
  return new PaymentError('mpp_payment_verification_failed', detail, {
    ...(channelId ? { extensions: { channelId } } : {}),
    ...(problemType ? { problemType } : {}),
  })
}

/** The voucher's signer is not the channel's expected signer. */
export const signerMismatch = (what: string, channelId: Hex) =>
  verificationFailed(`The ${what} is not signed by the channel's authorized signer.`, channelId, 'session/signer-mismatch')
