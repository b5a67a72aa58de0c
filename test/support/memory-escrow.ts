// The Escrow port in memory, for fast engine tests and the benchmark: a v1
// escrow's channel book without a chain. Client transactions are real signed
// transactions, decoded by the real decoder; broadcasting applies them to the
// book the way the contract would (open, topUp), and settle/close check the
// voucher signature like the contract. Faults can be injected per operation:
// the chain down (`mpp_chain_unavailable`), a revert, or a timeout (a
// transaction sent but not confirmed). The payee's fee balance is a number the
// test sets: settle/close refuse, as the viem adapter does, when it is below
// the fee they need.
import type { Address, Hex } from 'viem'
import { PaymentError } from '../../src/errors/payment-error.js'
import { decodeEscrowTransaction } from '../../src/escrow/transaction.js'
import { nobleBackend } from '../../src/secp256k1/noble.js'
import { expectedSigner } from '../../src/session/channel.js'
import { type Escrow, type EscrowCall, FeeShortfallError, type OnChainChannel } from '../../src/session/escrow.js'
import { recoverVoucherSigner } from '../../src/session/v1/voucher.js'

export const memoryEscrowAddress = '0x3333333333333333333333333333333333333333' as Address
export const memoryChainId = 31337

export type EscrowOperation = 'getChannel' | 'broadcast' | 'settle' | 'close' | 'payeeFees'
export type EscrowFault = 'unavailable' | 'revert' | 'timeout'

export type MemoryEscrow = {
  escrow: Escrow
  /** The channel book, by channel id (lowercase). */
  channels: Map<Hex, OnChainChannel>
  /** Makes the next `count` calls of `operation` fail with `fault`. */
  fail(operation: EscrowOperation, fault: EscrowFault, count?: number): void
  /** Calls made, per operation. */
  calls: Record<EscrowOperation, number>
  /** Payee transfers made by settle/close, in order. */
  payouts: { channelId: Hex; amount: bigint; refund: bigint }[]
  /** The payee's fee balance (pathUSD) and what one settle/close needs; default 10 and 1. */
  payeeFees: { balance: bigint; needed: bigint }
}

export const memoryPayee = '0x2222222222222222222222222222222222222222' as Address
const pathUsd = '0x20c0000000000000000000000000000000000000' as Address

const hashOf = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex

export function memoryEscrow(options: { canSubmit?: boolean } = {}): MemoryEscrow {
  const channels = new Map<Hex, OnChainChannel>()
  const faults: Partial<Record<EscrowOperation, { fault: EscrowFault; count: number }>> = {}
  const calls: Record<EscrowOperation, number> = { getChannel: 0, broadcast: 0, settle: 0, close: 0, payeeFees: 0 }
  const payouts: MemoryEscrow['payouts'] = []
  const payeeFees = { balance: 10n, needed: 1n }
  const feesNow = () => ({ address: memoryPayee, token: pathUsd, ...payeeFees })
  /** What the viem adapter does when the payee cannot pay the fee: refuse before sending. */
  function checkFees(what: 'settle' | 'close') {
    if (payeeFees.balance >= payeeFees.needed) return
    const cause = new FeeShortfallError(feesNow(), what)
    throw new PaymentError('mpp_session_close_unavailable', `The ${what} cannot be sent: ${cause.message}.`, { cause })
  }
  let transactions = 0
  const target = { escrow: memoryEscrowAddress, chainId: memoryChainId }

  /** Throws the injected fault of `operation`, if any is armed. */
  function inject(
    operation: EscrowOperation,
    failCode: 'mpp_payment_verification_failed' | 'mpp_session_close_failed' | 'mpp_chain_unavailable',
  ) {
    calls[operation]++
    const armed = faults[operation]
    if (armed === undefined || armed.count === 0) return
    armed.count--
    if (armed.fault === 'unavailable') throw new PaymentError('mpp_chain_unavailable', 'The chain RPC is down. Retry shortly.')
    if (armed.fault === 'timeout') {
      throw new PaymentError('mpp_chain_unavailable', 'The transaction was sent but not confirmed in time; retry the same request.')
    }
    throw new PaymentError(failCode, `The ${operation} transaction reverted on chain.`)
  }

  const channel = (channelId: Hex) => {
    const found = channels.get(channelId)
    if (found === undefined)
      throw new PaymentError('mpp_session_close_failed', 'The escrow rejected the call: the channel does not exist on chain.')
    return found
  }

  /** What the contract checks of a voucher: the channel's signer, above what is settled, within the deposit. */
  async function checkVoucher(channelId: Hex, amount: bigint, signature: Hex) {
    const state = channel(channelId)
    if (state.finalized) throw new PaymentError('mpp_session_close_failed', 'The escrow rejected the call: the channel is already closed.')
    const signer = recoverVoucherSigner(target, { channelId, cumulativeAmount: amount, signature }, nobleBackend)
    if (signer !== expectedSigner(state))
      throw new PaymentError('mpp_session_close_failed', 'The escrow rejected the call: invalid signature.')
    if (amount > state.deposit) throw new PaymentError('mpp_session_close_failed', 'The escrow rejected the call: amount exceeds deposit.')
    return state
  }

  const escrow: Escrow = {
    address: memoryEscrowAddress,
    chainId: memoryChainId,
    canSubmit: options.canSubmit ?? true,

    async payeeFees() {
      inject('payeeFees', 'mpp_chain_unavailable')
      return escrow.canSubmit ? feesNow() : undefined
    },

    async getChannel(channelId) {
      inject('getChannel', 'mpp_payment_verification_failed')
      return channels.get(channelId.toLowerCase() as Hex)
    },

    decodeTransaction(serialized): Promise<EscrowCall> {
      return decodeEscrowTransaction(serialized, target, { channelToken: async (id) => channels.get(id)?.token })
    },

    async broadcast(serialized) {
      inject('broadcast', 'mpp_payment_verification_failed')
      const call = await escrow.decodeTransaction(serialized)
      if (call.kind === 'open') {
        if (channels.has(call.channelId))
          throw new PaymentError('mpp_payment_verification_failed', 'The open transaction reverted: ChannelAlreadyExists.')
        const { payer, payee, token, authorizedSigner, deposit } = call
        channels.set(call.channelId, {
          payer,
          payee,
          token,
          authorizedSigner,
          deposit,
          settled: 0n,
          closeRequestedAt: 0n,
          finalized: false,
        })
      } else {
        const state = channels.get(call.channelId)
        if (state === undefined || state.finalized || state.payer !== call.sender) {
          throw new PaymentError('mpp_payment_verification_failed', 'The topUp transaction reverted.')
        }
        channels.set(call.channelId, { ...state, deposit: state.deposit + call.additionalDeposit, closeRequestedAt: 0n })
      }
      return { txHash: hashOf(++transactions) }
    },

    async settle(channelId, cumulativeAmount, signature) {
      inject('settle', 'mpp_session_close_failed')
      checkFees('settle')
      const state = await checkVoucher(channelId, cumulativeAmount, signature)
      if (cumulativeAmount <= state.settled)
        throw new PaymentError('mpp_session_close_failed', 'The escrow rejected settle: amount not increasing.')
      payouts.push({ channelId, amount: cumulativeAmount - state.settled, refund: 0n })
      channels.set(channelId, { ...state, settled: cumulativeAmount })
      return { txHash: hashOf(++transactions) }
    },

    async close(channelId, cumulativeAmount, signature) {
      inject('close', 'mpp_session_close_failed')
      checkFees('close')
      // As the contract: at or below `settled` there is nothing to authorize.
      const state =
        cumulativeAmount > channel(channelId).settled ? await checkVoucher(channelId, cumulativeAmount, signature) : channel(channelId)
      if (state.finalized)
        throw new PaymentError('mpp_session_close_failed', 'The escrow rejected the call: the channel is already closed.')
      const captured = cumulativeAmount > state.settled ? cumulativeAmount : state.settled
      payouts.push({ channelId, amount: captured - state.settled, refund: state.deposit - captured })
      channels.set(channelId, { ...state, settled: captured, finalized: true })
      return { txHash: hashOf(++transactions) }
    },

    async transactionStatus(txHash) {
      return BigInt(txHash) >= 1n && BigInt(txHash) <= BigInt(transactions) ? 'success' : 'unknown'
    },
  }

  return {
    escrow,
    channels,
    calls,
    payouts,
    payeeFees,
    fail(operation, fault, count = 1) {
      faults[operation] = { fault, count }
    },
  }
}
