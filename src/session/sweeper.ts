// The settlement sweeper (README: Operating a payee): a periodic job over
// every channel the store lists. Each step reconciles the channels whose chain
// read is older than `reconcileAfter` with the chain, then sweeps every open
// channel (sweep.ts: settle past the threshold or the age limit, settle during
// a forced close, settle and close when idle). One sweeper at a time across
// the instances sharing the store: a step runs under the store's job lock
// (PostgreSQL: an advisory lock; PGlite and memory: this process), and a step
// that does not get it does nothing. Everything it does is idempotent, so a
// step cut short is finished by the next one, here or on another instance.
import type { Hex } from 'viem'
import { z } from 'zod'
import { parseConfig } from '../errors/config-error.js'
import { callable, implementing, integer } from '../util/config.js'
import { joined, pollLoop } from '../util/poll-loop.js'
import type { ChannelState } from './channel.js'
import type { TempoSession } from './engine.js'
import { jobErrorLogger } from './job-errors.js'
import type { Reconciliation } from './reconcile.js'
import type { ChannelLister, ChannelStore } from './store.js'
import type { SweepOutcome, SweepReason } from './sweep.js'

/** The sweeper's defaults: a step a minute; a channel's chain read refreshed when older than 10 minutes. */
export const defaultSweepInterval = 60_000
export const defaultReconcileAfter = 600_000

/** Runs `work` only if no other holder of `name` runs it now, on any instance sharing the store. */
export interface JobLock {
  runExclusive<T>(name: string, work: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }>
}

export type SettlementSweeperOptions = {
  /** The engine whose channels are swept; its settings hold the threshold, age and idle limits. */
  session: Pick<TempoSession, 'recipient' | 'sweepChannel' | 'reconcileChannel'>
  /** The store the engine uses: it lists the channels and holds the job lock. */
  store: ChannelLister & JobLock
  /** Pause between the end of one step and the start of the next (ms), for `start()`. Default `defaultSweepInterval`. */
  intervalMs?: number
  /** A channel whose chain read is older than this (ms) is read again by the step. Default `defaultReconcileAfter`. */
  reconcileAfter?: number
  /** Receives what a channel's sweep could not do; it is tried again next step. Default: a JSON line on stderr. */
  onError?: (error: unknown) => void
  /** Receives one line per channel a step acted on or found changed. Default: a JSON line on stdout. */
  log?: (line: SweepLine) => void
  now?: () => number
}

/** One channel a step acted on, or whose store the chain corrected. */
export type SweepLine =
  | {
      event: 'sweep'
      channelId: Hex
      reason: SweepReason
      outcome: SweepOutcome['kind']
      txHash?: Hex
      /** Settled by the transaction (decimal, base units); for a close, what it captured in all. */
      amount?: string
    }
  | ({ event: 'reconcile' } & Reconciliation)

/** What one step did; `ran` false when another instance holds the job. */
export type SweepStep = { ran: boolean; channels: number; reconciled: number; lines: SweepLine[] }

export type SettlementSweeper = {
  /** One pass over the store's channels, under the job lock. A call while one runs joins it. */
  step(): Promise<SweepStep>
  /** Runs steps every `intervalMs` until `stop()`. */
  start(): void
  /** Stops the loop; resolves once a step in flight has finished. */
  stop(): Promise<void>
}

/** One JSON line on stderr for a channel the sweeper could not handle: its code (or error class), never its message. */
export const logSweepError = jobErrorLogger('sweep_failed')

const optionsSchema = z.object({
  session: z.object({ sweepChannel: callable(), reconcileChannel: callable() }, { error: 'must be a tempoSession' }),
  store: implementing<ChannelLister & JobLock>(['listChannels', 'runExclusive']),
  intervalMs: integer(1).optional(),
  reconcileAfter: integer(0).optional(),
  onError: callable<(error: unknown) => void>().optional(),
  log: callable<(line: SweepLine) => void>().optional(),
  now: callable<() => number>().optional(),
})

function sweepLine(channelId: Hex, reason: SweepReason, outcome: SweepOutcome): SweepLine {
  const line: SweepLine = { event: 'sweep', channelId, reason, outcome: outcome.kind }
  return outcome.kind === 'settled' || outcome.kind === 'closed'
    ? { ...line, txHash: outcome.txHash, amount: outcome.amount.toString() }
    : line
}

/**
 * What the sweeper does to one channel: reads it from the chain when the
 * store's read is older than `reconcileAfter` (correcting the store), then
 * sweeps it; one line per thing it did or found changed. True when it read the
 * chain. Errors reach the caller. Node runs it in each step over every
 * channel; on Workers each channel's Durable Object runs it from its alarm.
 */
export async function sweepOnce(
  session: Pick<TempoSession, 'sweepChannel' | 'reconcileChannel'>,
  state: ChannelState,
  { now, reconcileAfter, log }: { now: number; reconcileAfter: number; log: (line: SweepLine) => void },
): Promise<boolean> {
  const stale = now - state.chainReadAt >= reconcileAfter
  if (stale) {
    const found = await session.reconcileChannel(state.channelId)
    if (found !== undefined && (Object.keys(found.changed).length > 0 || found.missing || found.pending)) {
      log({ event: 'reconcile', ...found })
    }
  }
  const swept = await session.sweepChannel(state.channelId)
  if (swept !== undefined && swept.outcome.kind !== 'nothing') log(sweepLine(state.channelId, swept.reason, swept.outcome))
  return stale
}

/** The sweeper's settings with their defaults, the same for the job and its per-channel form. */
function withDefaults(options: Omit<SettlementSweeperOptions, 'session' | 'store'>) {
  return {
    intervalMs: options.intervalMs ?? defaultSweepInterval,
    reconcileAfter: options.reconcileAfter ?? defaultReconcileAfter,
    onError: options.onError ?? logSweepError,
    log: options.log ?? ((line: SweepLine) => console.log(JSON.stringify(line))),
    now: options.now ?? Date.now,
  }
}

/** A settlement sweeper over `options.store`, validated here: a bad option throws a `ConfigError`. */
export function settlementSweeper(options: SettlementSweeperOptions): SettlementSweeper {
  parseConfig(optionsSchema, options, 'settlementSweeper')
  const { session, store } = options
  const { intervalMs, reconcileAfter, onError, log, now } = withDefaults(options)
  const lockName = `settlement-sweeper/${session.recipient}`

  async function pass(): Promise<Omit<SweepStep, 'ran'>> {
    const open = (await store.listChannels()).filter((state) => !state.finalized)
    const lines: SweepLine[] = []
    const emit = (line: SweepLine) => {
      lines.push(line)
      log(line)
    }
    let reconciled = 0
    // One channel at a time: the payee's transactions go out one by one anyway, and the RPC sees no burst.
    for (const state of open) {
      try {
        if (await sweepOnce(session, state, { now: now(), reconcileAfter, log: emit })) reconciled++
      } catch (error) {
        onError(error)
      }
    }
    return { channels: open.length, reconciled, lines }
  }

  const step = joined(async (): Promise<SweepStep> => {
    const result = await store.runExclusive(lockName, pass)
    return result.ran ? { ran: true, ...result.value } : { ran: false, channels: 0, reconciled: 0, lines: [] }
  })
  return { step, ...pollLoop(step, intervalMs, onError) }
}

/**
 * The sweeper one channel at a time, for a store that wakes each channel by
 * itself (Durable Objects: the channel's alarm, src/stores/cloudflare/objects.ts)
 * instead of listing them: the same per-channel work as a step (`sweepOnce`),
 * then when the channel is next due. Needs no job lock: a store that wakes a
 * channel runs one wake-up of it at a time.
 */
export type ChannelSweeper = {
  /** The longest a written channel waits for its sweep, and the shortest time between two sweeps of it (ms). */
  readonly intervalMs: number
  /**
   * Sweeps the channel of `state` (as stored); returns when it is next due (ms; the store waits at least
   * `intervalMs`), or `undefined` when only a new write can make it due. Errors go to `onError` and the
   * channel is due again after `intervalMs`.
   */
  sweep(state: ChannelState): Promise<number | undefined>
}

export type ChannelSweeperOptions = Omit<SettlementSweeperOptions, 'session' | 'store'> & {
  session: Pick<TempoSession, 'sweepChannel' | 'reconcileChannel' | 'nextSweepAt'>
  /** The engine's store: the channel is read again after its sweep. */
  store: Pick<ChannelStore, 'getChannel'>
}

const channelOptionsSchema = optionsSchema.extend({
  session: z.object(
    { sweepChannel: callable(), reconcileChannel: callable(), nextSweepAt: callable() },
    { error: 'must be a tempoSession' },
  ),
  store: implementing<Pick<ChannelStore, 'getChannel'>>(['getChannel']),
})

/** A per-channel sweeper (`ChannelSweeper`), validated here: a bad option throws a `ConfigError`. */
export function channelSweeper(options: ChannelSweeperOptions): ChannelSweeper {
  parseConfig(channelOptionsSchema, options, 'channelSweeper')
  const { session, store } = options
  const { intervalMs, reconcileAfter, onError, log, now } = withDefaults(options)
  return {
    intervalMs,
    async sweep(state) {
      try {
        await sweepOnce(session, state, { now: now(), reconcileAfter, log })
        const after = await store.getChannel(state.channelId)
        return after === undefined ? undefined : session.nextSweepAt(after)
      } catch (error) {
        onError(error)
        return now() + intervalMs
      }
    },
  }
}
