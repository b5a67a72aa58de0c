// `npm run ops -- channels | channel <id> | settle <id> | close <id> | sweep |
// reconcile` (README: Operating a payee), with the Node entry's environment.
// `channels` and `channel` read the store only (DATABASE_URL, or PGLITE_DIR);
// the others need the whole gateway configuration (RPC, escrow, payee key,
// the sweeper's limits) and may send transactions. PGlite is
// one process at a time: stop the gateway before using its PGlite directory
// (PostgreSQL can be used while gateways run).
import { pathToFileURL } from 'node:url'
import type { Hex } from 'viem'
import { z } from 'zod'
import { ConfigError, parseConfig } from '../errors/config-error.js'
import { ProblemError } from '../errors/payment-error.js'
import { configFromEnv, storeFromEnv } from '../node.js'
import { type TempoSession, tempoSession } from '../session/engine.js'
import type { Reconciliation } from '../session/reconcile.js'
import { settlementSweeper } from '../session/sweeper.js'
import type { SqlSessionStore } from '../stores/postgres.js'
import { channelDetail, channelTable, reconcileTable, sweepTable } from './table.js'

const usage = 'usage: npm run ops -- channels | channel <channel id> | settle <channel id> | close <channel id> | sweep | reconcile'

const channelId = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex channel id')
  .transform((id) => id.toLowerCase() as Hex)
const commandSchema = z.union([
  z.tuple([z.literal('channels')]),
  z.tuple([z.literal('channel'), channelId]),
  z.tuple([z.literal('settle'), channelId]),
  z.tuple([z.literal('close'), channelId]),
  z.tuple([z.literal('sweep')]),
  z.tuple([z.literal('reconcile')]),
])
type Command = z.output<typeof commandSchema>
type Outcome = { output: string; code: number }

/** Runs one command; resolves with what to print and the exit code. */
export async function runOps(args: readonly string[], env: Record<string, string | undefined>): Promise<Outcome> {
  let command: Command
  try {
    command = parseConfig(commandSchema, args, 'command')
  } catch (error) {
    if (error instanceof ConfigError) return { output: `${error.message}\n${usage}`, code: 2 }
    throw error
  }
  if (command[0] === 'channels' || command[0] === 'channel') {
    const store = storeFromEnv(env)
    try {
      if (command[0] === 'channels') return { output: channelTable(await store.listChannels()), code: 0 }
      const state = await store.getChannel(command[1])
      return state === undefined ? { output: `no channel ${command[1]} in the store`, code: 1 } : { output: channelDetail(state), code: 0 }
    } finally {
      await store.close()
    }
  }
  return withSession(env, (session, store) => payeeCommand(command, session, store))
}

/** Runs `work` with the engine the Node entry would build from `env` (store, chain, payee key, limits), then closes the store. */
async function withSession(
  env: Record<string, string | undefined>,
  work: (session: TempoSession, store: SqlSessionStore) => Promise<Outcome>,
): Promise<Outcome> {
  const config = configFromEnv(env)
  const store = config.store as SqlSessionStore
  try {
    const session = tempoSession({
      escrow: config.escrow,
      store,
      recipient: config.recipient,
      currency: config.currency,
      ...config.session,
    })
    return await work(session, store)
  } finally {
    await store.close()
  }
}

/** What the payee's commands do: each acts as the gateway's own background jobs would, once, now. */
async function payeeCommand(command: Command, session: TempoSession, store: SqlSessionStore): Promise<Outcome> {
  switch (command[0]) {
    case 'settle': {
      const id = command[1]
      if ((await store.getChannel(id)) === undefined) return { output: `no channel ${id} in the store`, code: 1 }
      const settled = await session.settle(id)
      if (settled === undefined) {
        return {
          output: `nothing settled on ${id}: no accepted voucher above settled and not above spent, or a settlement in flight`,
          code: 0,
        }
      }
      return { output: `settled ${settled.amount} on ${id} in ${settled.txHash}`, code: 0 }
    }
    case 'close': {
      const id = command[1]
      if ((await store.getChannel(id)) === undefined) return { output: `no channel ${id} in the store`, code: 1 }
      const outcome = await session.closeChannel(id)
      if (outcome.kind === 'closed') return { output: `closed ${id}: ${outcome.amount} captured in all, in ${outcome.txHash}`, code: 0 }
      if (outcome.kind === 'busy')
        return { output: `not closed ${id}: requests in flight, or a close or forced close pending; retry`, code: 1 }
      return { output: `not closed ${id}: it is closed already`, code: 0 }
    }
    case 'sweep': {
      const failed = failures()
      // Every channel is read from the chain too: an operator's sweep is also a reconciliation.
      const step = await settlementSweeper({ session, store, reconcileAfter: 0, log: () => {}, onError: failed.record }).step()
      if (!step.ran) return { output: 'another instance is sweeping now; nothing done', code: 1 }
      return { output: sweepTable(step), code: failed.count > 0 ? 1 : 0 }
    }
    case 'reconcile': {
      const failed = failures()
      const open = (await store.listChannels()).filter((state) => !state.finalized)
      const found: Reconciliation[] = []
      for (const state of open) {
        try {
          const result = await session.reconcileChannel(state.channelId)
          if (result !== undefined) found.push(result)
        } catch (error) {
          failed.record(error)
        }
      }
      return { output: reconcileTable(found), code: failed.count > 0 ? 1 : 0 }
    }
    default:
      return { output: usage, code: 2 }
  }
}

/** Counts the channels a command could not handle, each reported on stderr by its code (or error class), never its message. */
function failures() {
  let count = 0
  return {
    get count() {
      return count
    },
    record(error: unknown) {
      count++
      console.error(`failed: ${error instanceof ProblemError ? error.code : error instanceof Error ? error.name : 'unknown error'}`)
    },
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const { output, code } = await runOps(process.argv.slice(2), process.env)
    ;(code === 0 ? console.log : console.error)(output)
    process.exitCode = code
  } catch (error) {
    // A configuration error names the variable and its rule, never its value; any other error only its class and
    // code, as the gateway's log does (an RPC error's message can carry the RPC URL and its key).
    if (error instanceof ConfigError) console.error(`ops configuration error: ${error.message}`)
    else if (error instanceof ProblemError) console.error(`ops failed: ${error.code}`)
    else console.error(`ops failed: ${error instanceof Error ? error.name : 'unknown error'}`)
    process.exitCode = 1
  }
}
