// The v1 `Escrow` port over viem: the `TempoStreamChannel` escrow contract on
// one chain, and its close events for the close watcher. What it shares with
// the v2 adapter (RPC deadline, broadcast, the payee's settle/close, fees, the
// error policy) is escrow-rpc.ts.
import { type Address, type Hex, maxUint128 } from 'viem'
import { z } from 'zod'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { parseConfig } from '../errors/config-error.js'
import type { CloseEventSource } from '../session/close-events.js'
import type { Escrow, EscrowCall, OnChainChannel } from '../session/escrow.js'
import { address as addressRule } from '../util/config.js'
import { closeEventFilter, decodeCloseEvents } from './close-events.js'
import { type EscrowRpcOptions, escrowRpc, escrowRpcOptionFields, isBytes32, isHexBytes, oneTransport, unavailable } from './escrow-rpc.js'
import { decodeEscrowTransaction } from './transaction.js'

export type ViemEscrowOptions = {
  /** The escrow contract. */
  address: Address
} & EscrowRpcOptions

const optionsSchema = z.object({ address: addressRule, ...escrowRpcOptionFields }).refine(...oneTransport)

/**
 * The `Escrow` port over viem, and the escrow's close events (`CloseEventSource`)
 * for the close watcher. Options are validated here: a bad one throws a `ConfigError` at start.
 */
export function viemEscrow(options: ViemEscrowOptions): Escrow & CloseEventSource {
  parseConfig(optionsSchema, options, 'viemEscrow')
  const address = options.address.toLowerCase() as Address
  const rpc = escrowRpc(options)

  function submit(functionName: 'settle' | 'close', channelId: Hex, cumulativeAmount: bigint, signature: Hex) {
    const wellFormed = isBytes32(channelId) && isHexBytes(signature) && cumulativeAmount >= 0n && cumulativeAmount <= maxUint128
    return rpc.submit({ functionName, address, abi: escrowAbi, args: [channelId, cumulativeAmount, signature], wellFormed })
  }

  async function getChannel(channelId: Hex): Promise<OnChainChannel | undefined> {
    // A string that is not a bytes32 names no channel.
    if (!isBytes32(channelId)) return undefined
    const read = () => rpc.within(rpc.client.readContract({ address, abi: escrowAbi, functionName: 'getChannel', args: [channelId] }))
    let ch: Awaited<ReturnType<typeof read>>
    try {
      ch = await read()
    } catch (err) {
      throw unavailable('Could not read the channel from the escrow contract.', err)
    }
    // Read by field name: the deployed struct starts with (finalized, closeRequestedAt).
    // A record without a payer never existed, unless it is finalized: the
    // deployed escrow deletes a closed channel and keeps only that flag.
    if (/^0x0{40}$/.test(ch.payer) && !ch.finalized) return undefined
    return {
      payer: ch.payer.toLowerCase() as Address,
      payee: ch.payee.toLowerCase() as Address,
      token: ch.token.toLowerCase() as Address,
      authorizedSigner: ch.authorizedSigner.toLowerCase() as Address,
      deposit: ch.deposit,
      settled: ch.settled,
      closeRequestedAt: ch.closeRequestedAt,
      finalized: ch.finalized,
    }
  }

  return {
    address,
    chainId: rpc.chainId,
    canSubmit: rpc.canSubmit,
    payeeFees: rpc.payeeFees,
    getChannel: (channelId) => getChannel(channelId),

    decodeTransaction(serialized: Hex): Promise<EscrowCall> {
      // A topUp may approve the channel's token in the same 0x76 transaction; only then is the channel read.
      return decodeEscrowTransaction(
        serialized,
        { escrow: address, chainId: rpc.chainId },
        { channelToken: async (id) => (await getChannel(id))?.token, recovery: rpc.recovery },
      )
    },

    broadcast: rpc.broadcast,
    settle: (channelId, cumulativeAmount, signature) => submit('settle', channelId, cumulativeAmount, signature),
    close: (channelId, cumulativeAmount, signature) => submit('close', channelId, cumulativeAmount, signature),
    transactionStatus: rpc.transactionStatus,
    latestBlock: rpc.latestBlock,

    async closeEvents(payee, fromBlock, toBlock) {
      const filter = closeEventFilter(escrowAbi, address, payee.toLowerCase() as Address, fromBlock, toBlock)
      try {
        return decodeCloseEvents(escrowAbi, await rpc.within(rpc.client.request({ method: 'eth_getLogs', params: [filter] })))
      } catch (err) {
        throw unavailable("Could not read the escrow's close events.", err)
      }
    },
  }
}
