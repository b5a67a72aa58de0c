// The escrow's close events for one payee, as one `eth_getLogs` filter and its
// decoding (the RPC call itself is the adapters', under escrow-rpc.ts's error
// policy). The payee is an indexed topic of both events, so the node filters: a
// poll costs one call whatever the number of channels, and returns only our
// events. The v1 escrow and the v2 precompile name the events alike and index
// (channelId, payer, payee) alike; their other fields differ, so each decodes
// with its own ABI.
import {
  type Abi,
  type Address,
  decodeEventLog,
  type Hex,
  hexToBigInt,
  hexToNumber,
  numberToHex,
  pad,
  type RpcLog,
  toEventSelector,
} from 'viem'
import type { Abis } from 'viem/tempo'
import type { escrowAbi } from '../../contracts-abi/escrow.js'
import type { CloseEvent } from '../session/close-events.js'

const kinds = { CloseRequested: 'requested', CloseRequestCancelled: 'cancelled' } as const

/** The ABI whose close events a filter matches and decodes: the v1 escrow's or the v2 precompile's. */
export type CloseEventsAbi = typeof escrowAbi | typeof Abis.tip20ChannelReserve

function selector(abi: CloseEventsAbi, name: keyof typeof kinds): Hex {
  const event = (abi as Abi).find((item) => item.type === 'event' && item.name === name)
  if (event?.type !== 'event') throw new Error(`the escrow ABI has no ${name} event`)
  return toEventSelector(event)
}

/** The `eth_getLogs` parameter: both events (either signature in topic 0) naming `payee` (topic 3) on `escrow`. */
export function closeEventFilter(abi: CloseEventsAbi, escrow: Address, payee: Address, fromBlock: bigint, toBlock: bigint) {
  return {
    address: escrow,
    fromBlock: numberToHex(fromBlock),
    toBlock: numberToHex(toBlock),
    topics: [[selector(abi, 'CloseRequested'), selector(abi, 'CloseRequestCancelled')], null, null, pad(payee.toLowerCase() as Address)],
  }
}

/** Decodes the logs `closeEventFilter` matched, in chain order; anything else (a pending log, another event) is dropped. */
export function decodeCloseEvents(abi: CloseEventsAbi, logs: readonly RpcLog[]): CloseEvent[] {
  const events: CloseEvent[] = []
  for (const log of logs) {
    if (log.blockNumber === null || log.logIndex === null || log.removed) continue
    const decoded = decodeEventLog({ abi: abi as Abi, data: log.data, topics: log.topics as [Hex, ...Hex[]], strict: false })
    if (decoded.eventName !== 'CloseRequested' && decoded.eventName !== 'CloseRequestCancelled') continue
    events.push({
      kind: kinds[decoded.eventName],
      // Both ABIs name their inputs, so args come keyed by name; the indexed channel id is `channelId` in both.
      channelId: (decoded.args as unknown as { channelId: Hex }).channelId.toLowerCase() as Hex,
      blockNumber: hexToBigInt(log.blockNumber),
      logIndex: hexToNumber(log.logIndex),
    })
  }
  return events.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1))
}
