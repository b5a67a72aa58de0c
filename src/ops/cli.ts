// `npm run ops -- channels | channel <id> | settle <id>` (README: Operating a
// payee), with the Node entry's environment. `channels` and `channel` read the
// store only (DATABASE_URL, or PGLITE_DIR); `settle` needs the whole gateway
// configuration (RPC, escrow, payee key) and sends one transaction. PGlite is
// one process at a time: stop the gateway before using its PGlite directory
// (PostgreSQL can be used while gateways run).
import { pathToFileURL } from 'node:url'
import { z } from 'zod'
import { ConfigError, parseConfig } from '../errors/config-error.js'
import { ProblemError } from '../errors/payment-error.js'
import { configFromEnv, storeFromEnv } from '../node.js'
import { tempoSession } from '../session/engine.js'
import type { SqlSessionStore } from '../stores/postgres.js'
import { channelDetail, channelTable } from './table.js'

const usage = 'usage: npm run ops -- channels | channel <channel id> | settle <channel id>'

const channelId = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex channel id')
  .transform((id) => id.toLowerCase() as `0x${string}`)
const commandSchema = z.union([
  z.tuple([z.literal('channels')]),
  z.tuple([z.literal('channel'), channelId]),
  z.tuple([z.literal('settle'), channelId]),
])

/** Runs one command; resolves with what to print and the exit code. */
export async function runOps(args: readonly string[], env: Record<string, string | undefined>): Promise<{ output: string; code: number }> {
  let command: z.output<typeof commandSchema>
  try {
    command = parseConfig(commandSchema, args, 'command')
  } catch (error) {
    if (error instanceof ConfigError) return { output: `${error.message}\n${usage}`, code: 2 }
    throw error
  }
  if (command[0] === 'settle') return settleCommand(command[1], env)
  const store = storeFromEnv(env)
  try {
    if (command[0] === 'channels') return { output: channelTable(await store.listChannels()), code: 0 }
    const state = await store.getChannel(command[1])
    return state === undefined ? { output: `no channel ${command[1]} in the store`, code: 1 } : { output: channelDetail(state), code: 0 }
  } finally {
    await store.close()
  }
}

/** Settles the highest accepted voucher not above spent, as the engine's own settlement does (claimed once in the store). */
async function settleCommand(channelId: `0x${string}`, env: Record<string, string | undefined>) {
  const config = configFromEnv(env)
  const store = config.store as SqlSessionStore
  try {
    if ((await store.getChannel(channelId)) === undefined) return { output: `no channel ${channelId} in the store`, code: 1 }
    const session = tempoSession({
      escrow: config.escrow,
      store,
      recipient: config.recipient,
      currency: config.currency,
      ...config.session,
    })
    const settled = await session.settle(channelId)
    if (settled === undefined) {
      return {
        output: `nothing settled on ${channelId}: no accepted voucher above settled and not above spent, or a settlement in flight`,
        code: 0,
      }
    }
    return { output: `settled ${settled.amount} on ${channelId} in ${settled.txHash}`, code: 0 }
  } finally {
    await store.close()
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
