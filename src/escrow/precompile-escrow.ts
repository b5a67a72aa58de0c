// The v2 `Escrow` port over viem: the TIP-20 channel reserve precompile
// (TIP-1034) on one chain, and its close events for the close watcher. What it
// shares with the v1 adapter (RPC deadline, broadcast with the preflight, the
// payee's settle/close, fees, the error policy) is escrow-rpc.ts.
//
// Unlike the v1 escrow, the precompile addresses a channel by its descriptor
// (draft-tempo-session §Channel Descriptor) on every call after the open, pulls
// deposits without an approve, and deletes a closed channel: `getChannelState`
// then reads all zeros, as for a channel never opened. An open channel always
// has a deposit (open refuses zero, nothing lowers it), so a zero deposit is
// "not open", and `getChannel` answers `undefined`; the store, which holds the
// channels it saw open, is what tells a closed channel from one never opened.
import { type Address, decodeFunctionData, type Hex } from 'viem'
import { Abis } from 'viem/tempo'
import { z } from 'zod'
import { parseConfig } from '../errors/config-error.js'
import { PaymentError } from '../errors/payment-error.js'
import type { CloseEventSource } from '../session/close-events.js'
import type { Escrow, EscrowCall, OnChainChannel } from '../session/escrow.js'
import { maxUint96 } from '../session/v2/amount.js'
import { computeChannelId } from '../session/v2/channel-id.js'
import { type ChannelDescriptor, channelDescriptorSchema } from '../session/v2/descriptor.js'
import { SessionV2Error } from '../session/v2/errors.js'
import { decodeSignedTransaction as decodeOpenContext } from '../session/v2/open-transaction.js'
import { tip20ChannelReserveAddress } from '../session/v2/reserve.js'
import { address as addressRule } from '../util/config.js'
import { closeEventFilter, decodeCloseEvents } from './close-events.js'
import { type EscrowRpcOptions, escrowRpc, escrowRpcOptionFields, isHexBytes, oneTransport, unavailable } from './escrow-rpc.js'
import { decodeSignedTransaction } from './transaction.js'

const reserveAbi = Abis.tip20ChannelReserve

export type PrecompileEscrowOptions = {
  /** The precompile's address. Default `0x4d50500000000000000000000000000000000000`, where Tempo places it. */
  address?: Address
} & EscrowRpcOptions

const optionsSchema = z.object({ address: addressRule.optional(), ...escrowRpcOptionFields }).refine(...oneTransport)

function reject(detail: string, cause?: unknown): never {
  throw new PaymentError('mpp_payment_verification_failed', detail, cause === undefined ? {} : { cause })
}

const lower = <T extends Hex>(value: T) => value.toLowerCase() as T

/** A descriptor as the precompile's ABI gives it back (checksummed addresses), lowercase. */
function descriptorOf(args: { [K in keyof ChannelDescriptor]: Hex }): ChannelDescriptor {
  return channelDescriptorSchema.parse(args)
}

/**
 * The v2 `Escrow` over viem, and the precompile's close events (`CloseEventSource`).
 * Options are validated here: a bad one throws a `ConfigError` at start.
 */
export function precompileEscrow(options: PrecompileEscrowOptions): Escrow & CloseEventSource {
  parseConfig(optionsSchema, options, 'precompileEscrow')
  const address = (options.address ?? tip20ChannelReserveAddress).toLowerCase() as Address
  const rpc = escrowRpc(options)
  const idOf = (descriptor: ChannelDescriptor) => computeChannelId(descriptor, address, rpc.chainId)
  const isAmount = (value: bigint) => value >= 0n && value <= maxUint96

  async function getChannel(channelId: Hex, descriptor?: ChannelDescriptor): Promise<OnChainChannel | undefined> {
    // A descriptor that is not this channel's names no channel; without one the parties cannot be known.
    if (descriptor === undefined || idOf(descriptor) !== lower(channelId)) return undefined
    let state: { settled: bigint; deposit: bigint; closeRequestedAt: number }
    try {
      state = await rpc.within(rpc.client.readContract({ address, abi: reserveAbi, functionName: 'getChannelState', args: [channelId] }))
    } catch (err) {
      throw unavailable('Could not read the channel from the channel reserve.', err)
    }
    if (state.deposit === 0n) return undefined
    return {
      payer: descriptor.payer,
      payee: descriptor.payee,
      token: descriptor.token,
      authorizedSigner: descriptor.authorizedSigner,
      deposit: state.deposit,
      settled: state.settled,
      closeRequestedAt: BigInt(state.closeRequestedAt),
      finalized: false,
    }
  }

  async function decodeTransaction(serialized: Hex): Promise<EscrowCall> {
    // The checks every client transaction passes (chain id, signature, sender, no value or creation), then the
    // open context the precompile derives a channel id from. Both recover the same sender from the same payload.
    const tx = await decodeSignedTransaction(serialized, rpc.chainId, rpc.recovery)
    let expiringNonceHash: Hex
    try {
      expiringNonceHash = decodeOpenContext(serialized).expiringNonceHash
    } catch (err) {
      if (err instanceof SessionV2Error) reject('The transaction could not be decoded.', err)
      throw err
    }
    // The precompile pulls the deposit itself: an open or topUp is its one call, no approve.
    if (tx.calls.length !== 1) reject(`The transaction must make exactly one call, to the channel reserve ${address}.`)
    const call = tx.calls[0]!
    if (call.to !== address) reject(`The transaction does not call the channel reserve ${address}.`)
    let fn: ReturnType<typeof decodeFunctionData<typeof reserveAbi>>
    try {
      fn = decodeFunctionData({ abi: reserveAbi, data: call.data })
    } catch (err) {
      reject('The channel reserve call could not be decoded.', err)
    }
    if (fn.functionName === 'open') {
      const [payee, operator, token, deposit, salt, authorizedSigner] = fn.args
      if (deposit === 0n || deposit > maxUint96) reject('The deposit must be between 1 and 2^96-1 base units.')
      const descriptor = descriptorOf({ payer: tx.sender, payee, operator, token, salt, authorizedSigner, expiringNonceHash })
      return {
        kind: 'open',
        payer: descriptor.payer,
        payee: descriptor.payee,
        token: descriptor.token,
        deposit,
        salt: descriptor.salt,
        authorizedSigner: descriptor.authorizedSigner,
        channelId: idOf(descriptor),
        descriptor,
      }
    }
    if (fn.functionName === 'topUp') {
      const [named, additionalDeposit] = fn.args
      if (additionalDeposit === 0n || additionalDeposit > maxUint96) reject('The topUp amount must be between 1 and 2^96-1 base units.')
      const descriptor = descriptorOf(named)
      return { kind: 'topUp', sender: tx.sender, channelId: idOf(descriptor), additionalDeposit, descriptor }
    }
    reject(`The transaction calls ${fn.functionName} on the channel reserve; only open or topUp are accepted.`)
  }

  return {
    address,
    chainId: rpc.chainId,
    canSubmit: rpc.canSubmit,
    payeeFees: rpc.payeeFees,
    getChannel,
    decodeTransaction,
    broadcast: rpc.broadcast,

    settle(channelId, cumulativeAmount, signature, descriptor) {
      const wellFormed =
        descriptor !== undefined && idOf(descriptor) === lower(channelId) && isHexBytes(signature) && isAmount(cumulativeAmount)
      return rpc.submit({ functionName: 'settle', address, abi: reserveAbi, args: [descriptor, cumulativeAmount, signature], wellFormed })
    },

    close(channelId, cumulativeAmount, signature, v2) {
      const wellFormed =
        v2 !== undefined &&
        idOf(v2.descriptor) === lower(channelId) &&
        isHexBytes(signature) &&
        isAmount(cumulativeAmount) &&
        isAmount(v2.captureAmount) &&
        v2.captureAmount <= cumulativeAmount
      return rpc.submit({
        functionName: 'close',
        address,
        abi: reserveAbi,
        args: [v2?.descriptor, cumulativeAmount, v2?.captureAmount, signature],
        wellFormed,
      })
    },

    transactionStatus: rpc.transactionStatus,
    latestBlock: rpc.latestBlock,

    async closeEvents(payee, fromBlock, toBlock) {
      const filter = closeEventFilter(reserveAbi, address, payee.toLowerCase() as Address, fromBlock, toBlock)
      try {
        return decodeCloseEvents(reserveAbi, await rpc.within(rpc.client.request({ method: 'eth_getLogs', params: [filter] })))
      } catch (err) {
        throw unavailable("Could not read the channel reserve's close events.", err)
      }
    },
  }
}
