// The close watcher: learns of a payer's `requestClose` (and of its
// cancellation) within one poll, and hands each affected channel to the
// engine's `followCloseRequest` (forced-close.ts: refuse further service,
// settle what was spent).
//
// Why `eth_getLogs` over block ranges, polled: a poll costs two RPC calls
// (the latest block number, then the logs of the new blocks, filtered by the
// node on our payee's topic) whatever the number of open channels; a batched
// read of open channels would grow with them. Why not node-side filters
// (`eth_newFilter`, what viem's `watchContractEvent` prefers): they live in
// one node's memory, expire, and are lost behind a load balancer or on a
// restart, while a block range can be resumed from a cursor in the store.
//
// The cursor is the last block whose events are all handled, shared by every
// instance on the store (`CursorStore`, only ever moved forward). A step scans
// from it to the latest block; an event it could not finish (the chain read
// still lags the log, a settlement in flight elsewhere, a failed settlement)
// keeps the cursor before its block, so the next step (here, on another
// instance, or after a restart) handles it again. Handling is idempotent.
// Without a cursor (first start), a step looks back `lookbackBlocks`.
import type { Hex } from 'viem'
import { z } from 'zod'
import { parseConfig } from '../errors/config-error.js'
import { address, callable, implementing, integer } from '../util/config.js'
import { joined, pollLoop } from '../util/poll-loop.js'
import type { CloseEvent, CloseEventSource, CursorStore } from './close-events.js'
import type { TempoSession } from './engine.js'
import type { CloseFollowUp } from './forced-close.js'
import { jobErrorLogger } from './job-errors.js'

export type CloseWatcherOptions = {
  /** The engine whose channels are watched; `events` must read the same escrow it uses. */
  session: Pick<TempoSession, 'recipient' | 'followCloseRequest'>
  /** The escrow's close events (`viemEscrow` implements it). */
  events: CloseEventSource
  /** Where the cursor is kept: the store the engine uses, so every instance shares it. */
  cursors: CursorStore
  /** Pause between the end of one step and the start of the next (ms), for `start()`. Default 2,000. */
  intervalMs?: number
  /** Blocks a step scans before the latest one when the store holds no cursor yet. Default 3,600 (30 min of 0.5 s blocks: past a 15-min grace period). */
  lookbackBlocks?: number
  /** The most blocks one `eth_getLogs` asks for (RPC providers cap the range). Default 1,000. */
  maxBlockRange?: number
  /** Receives what a step could not do (the chain unreachable, a failed settlement); it is retried next step. Default: a JSON line on stderr. */
  onError?: (error: unknown) => void
  /** Receives one line per channel a step handled. Default: a JSON line on stdout. */
  log?: (line: CloseWatchLine) => void
}

/** What a step did with one channel named by close events. */
export type CloseWatchLine = {
  event: 'close_request'
  channelId: Hex
  /** The last close event seen for it in this step. */
  seen: CloseEvent['kind']
  /** What the engine found: `unknown`, `closed`, `open`, `close_requested`, or `failed` (see `onError`). */
  state: CloseFollowUp['kind'] | 'failed'
  /** For `close_requested`: `settled`, `nothing`, `busy`, `held` or `unavailable`. */
  settlement?: string
  txHash?: Hex
  /** The amount now settled by this step's transaction (decimal, base units). */
  settled?: string
  /** Whether the event is finished with; if not, the cursor stays before its block. */
  handled: boolean
}

/** What one step did. */
export type CloseWatchStep = {
  /** The blocks scanned, both included (`fromBlock > toBlock`: no new block). */
  fromBlock: bigint
  toBlock: bigint
  /** Close events found in them. */
  events: number
  lines: CloseWatchLine[]
  /** Where the cursor stands after the step (as this step left it; another instance may have moved it further). */
  cursor: bigint | undefined
}

export type CloseWatcher = {
  /** The cursor's name in the store: one per chain, escrow and payee. */
  readonly cursorName: string
  /** One poll: scan the new blocks, follow each channel named, advance the cursor. A call while one runs joins it. */
  step(): Promise<CloseWatchStep>
  /** Runs steps every `intervalMs` until `stop()`; errors go to `onError`. */
  start(): void
  /** Stops the loop; resolves once a step in flight has finished. */
  stop(): Promise<void>
}

const optionsSchema = z.object({
  session: z.object({ recipient: address, followCloseRequest: callable() }, { error: 'must be a tempoSession' }),
  events: implementing<CloseEventSource>(['latestBlock', 'closeEvents']),
  cursors: implementing<CursorStore>(['readCursor', 'advanceCursor']),
  intervalMs: integer(1).optional(),
  lookbackBlocks: integer(1).optional(),
  maxBlockRange: integer(1).optional(),
  onError: callable<(error: unknown) => void>().optional(),
  log: callable<(line: CloseWatchLine) => void>().optional(),
})

/** One JSON line on stderr for a failed step or channel: its code (or error class), never its message. */
export const logWatchError = jobErrorLogger('close_watch_failed')

/** Whether following a channel finished what its last close event asks. */
function handled(seen: CloseEvent['kind'], followUp: CloseFollowUp): boolean {
  switch (followUp.kind) {
    case 'unknown':
    case 'closed':
      return true
    case 'open':
      // A request the chain read does not show yet (a node behind the one that served the logs): again next step.
      return seen === 'cancelled'
    case 'close_requested':
      return followUp.settlement.kind !== 'busy' && followUp.settlement.kind !== 'held'
  }
}

function lineOf(channelId: Hex, seen: CloseEvent['kind'], followUp: CloseFollowUp | undefined, done: boolean): CloseWatchLine {
  const line: CloseWatchLine = { event: 'close_request', channelId, seen, state: followUp?.kind ?? 'failed', handled: done }
  if (followUp?.kind !== 'close_requested') return line
  const { settlement } = followUp
  return {
    ...line,
    settlement: settlement.kind,
    // v2 closes in the grace period (forced-close.ts): `settled` is then what the close captured.
    ...(settlement.kind === 'settled' || settlement.kind === 'closed'
      ? { txHash: settlement.txHash, settled: settlement.amount.toString() }
      : {}),
  }
}

/** A close watcher over `options.events`, validated here: a bad option throws a `ConfigError`. */
export function closeWatcher(options: CloseWatcherOptions): CloseWatcher {
  parseConfig(optionsSchema, options, 'closeWatcher')
  const { session, events, cursors } = options
  const intervalMs = options.intervalMs ?? 2_000
  const lookback = BigInt(options.lookbackBlocks ?? 3_600)
  const range = BigInt(options.maxBlockRange ?? 1_000)
  const onError = options.onError ?? logWatchError
  const log = options.log ?? ((line: CloseWatchLine) => console.log(JSON.stringify(line)))
  const payee = session.recipient
  const cursorName = `close-watch/${events.chainId}/${events.address}/${payee}`

  async function scan(): Promise<CloseWatchStep> {
    const head = await events.latestBlock()
    const cursor = await cursors.readCursor(cursorName)
    const fromBlock = cursor !== undefined ? cursor + 1n : head >= lookback ? head - lookback + 1n : 0n
    const found: CloseEvent[] = []
    for (let start = fromBlock; start <= head; start += range) {
      const end = start + range - 1n < head ? start + range - 1n : head
      found.push(...(await events.closeEvents(payee, start, end)))
    }
    // Per channel: its last event says what the chain should show now; its first, where to hold the cursor if unfinished.
    const channels = new Map<Hex, { first: bigint; last: CloseEvent }>()
    for (const event of found) {
      channels.set(event.channelId, { first: channels.get(event.channelId)?.first ?? event.blockNumber, last: event })
    }
    let hold: bigint | undefined
    const lines: CloseWatchLine[] = []
    // One channel at a time: the payee's transactions go out one by one anyway, and the RPC sees no burst.
    for (const [channelId, { first, last }] of channels) {
      let followUp: CloseFollowUp | undefined
      try {
        followUp = await session.followCloseRequest(channelId)
      } catch (error) {
        onError(error)
      }
      const done = followUp !== undefined && handled(last.kind, followUp)
      if (!done && (hold === undefined || first < hold)) hold = first
      const line = lineOf(channelId, last.kind, followUp, done)
      lines.push(line)
      log(line)
    }
    const next = hold === undefined ? head : hold - 1n
    if (next >= 0n && (cursor === undefined || next > cursor)) await cursors.advanceCursor(cursorName, next)
    return { fromBlock, toBlock: head, events: found.length, lines, cursor: cursor === undefined || next > cursor ? next : cursor }
  }

  const step = joined(scan)
  return { cursorName, step, ...pollLoop(step, intervalMs, onError) }
}
