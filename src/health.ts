// `GET /health` and the Node entry's start line: whether the gateway serves,
// and whether its payee can settle and close (a key to sign with, and the fee
// of one transaction). Closes and settlements that cannot be sent do not stop
// the gateway from serving paid requests: that is `degraded`, still 200. A
// chain that cannot be read is 503: new channels and vouchers above a cached
// deposit cannot be verified. The reading comes from the engine's readiness,
// cached there, so probing this cannot hammer the RPC. Public facts only: the
// payee's address, token and balance, never a key.
import { ProblemError } from './errors/payment-error.js'
import type { TempoSession } from './session/engine.js'
import type { Readiness } from './session/readiness.js'

export type HealthBody =
  | {
      ok: true
      status: 'ready' | 'degraded'
      /** Why closes and settlements cannot be sent (when degraded). */
      reason?: 'payee_cannot_sign' | 'payee_cannot_pay_fees'
      payee: {
        address: string
        canSign: boolean
        canPayFees: boolean
        /** The fee token, or `native`; with the balance and what one settle or close needs (decimal strings, base units). */
        feeToken?: string
        feeBalance?: string
        feeNeeded?: string
        /** When the reading was taken (RFC 3339). */
        checkedAt: string
      }
    }
  | { ok: false; status: 'unavailable'; code: string }

/** The health answer: 200 while paid requests are served (`degraded` when closes cannot be sent), 503 when the chain cannot be read. */
export async function health(session: Pick<TempoSession, 'readiness'>): Promise<{ status: 200 | 503; body: HealthBody }> {
  let readiness: Readiness
  try {
    readiness = await session.readiness()
  } catch (error) {
    return {
      status: 503,
      body: { ok: false, status: 'unavailable', code: error instanceof ProblemError ? error.code : 'mpp_internal_error' },
    }
  }
  const { address, canSign, canPayFees, fees, checkedAt } = readiness
  const payee = {
    address,
    canSign,
    canPayFees,
    ...(fees === undefined ? {} : { feeToken: fees.token, feeBalance: fees.balance.toString(), feeNeeded: fees.needed.toString() }),
    checkedAt: new Date(checkedAt).toISOString(),
  }
  if (canPayFees) return { status: 200, body: { ok: true, status: 'ready', payee } }
  return { status: 200, body: { ok: true, status: 'degraded', reason: canSign ? 'payee_cannot_pay_fees' : 'payee_cannot_sign', payee } }
}
