// The escrow's close events for one payee, as one `eth_getLogs` filter and its
// decoding (the RPC call itself is viem-escrow.ts's, under its error policy).
// The payee is an indexed topic of both events, so the node filters: a poll
// costs one call whatever the number of channels, and returns only our events.
import { type Address, decodeEventLog, encodeEventTopics, type Hex, hexToBigInt, hexToNumber, numberToHex, type RpcLog } from 'viem'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import type { CloseEvent } from '../session/close-events.js'

const kinds = { CloseRequested: 'requested', CloseRequestCancelled: 'cancelled' } as const

/** The `eth_getLogs` parameter: both events (either signature in topic 0) naming `payee` (topic 3) on `escrow`. */
export function closeEventFilter(escrow: Address, payee: Address, fromBlock: bigint, toBlock: bigint) {
  const [requested, , , payeeTopic] = encodeEventTopics({ abi: escrowAbi, eventName: 'CloseRequested', args: { payee } })
  const [cancelled] = encodeEventTopics({ abi: escrowAbi, eventName: 'CloseRequestCancelled', args: { payee } })
  return {
    address: escrow,
    fromBlock: numberToHex(fromBlock),
    toBlock: numberToHex(toBlock),
    topics: [[requested as Hex, cancelled as Hex], null, null, payeeTopic as Hex],
  }
}

/** Decodes the logs `closeEventFilter` matched, in chain order; anything else (a pending log, another event) is dropped. */
export function decodeCloseEvents(logs: readonly RpcLog[]): CloseEvent[] {
  const events: CloseEvent[] = []
  for (const log of logs) {
    if (log.blockNumber === null || log.logIndex === null || log.removed) continue
    const decoded = decodeEventLog({ abi: escrowAbi, data: log.data, topics: log.topics as [Hex, ...Hex[]], strict: false })
    if (decoded.eventName !== 'CloseRequested' && decoded.eventName !== 'CloseRequestCancelled') continue
    events.push({
      kind: kinds[decoded.eventName],
      channelId: (decoded.args.channelId as Hex).toLowerCase() as Hex,
      blockNumber: hexToBigInt(log.blockNumber),
      logIndex: hexToNumber(log.logIndex),
    })
  }
  return events.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1))
}
