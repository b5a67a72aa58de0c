// `npm run ops -- channels | channel <id>`: the payee's channels as the store
// holds them, read with the Node entry's environment (DATABASE_URL, or
// PGLITE_DIR; README: Operating a payee). Read-only: nothing is sent to the
// chain. PGlite is one process at a time: stop the gateway before reading its
// PGlite directory (PostgreSQL can be read while gateways run).
import { pathToFileURL } from 'node:url'
import { z } from 'zod'
import { ConfigError, parseConfig } from '../errors/config-error.js'
import { storeFromEnv } from '../node.js'
import { channelDetail, channelTable } from './table.js'

const usage = 'usage: npm run ops -- channels | channel <channel id>'

const commandSchema = z.union([
  z.tuple([z.literal('channels')]),
  z.tuple([z.literal('channel'), z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex channel id')]),
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
  const store = storeFromEnv(env)
  try {
    if (command[0] === 'channels') return { output: channelTable(await store.listChannels()), code: 0 }
    const channelId = command[1].toLowerCase() as `0x${string}`
    const state = await store.getChannel(channelId)
    return state === undefined ? { output: `no channel ${channelId} in the store`, code: 1 } : { output: channelDetail(state), code: 0 }
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
    // A configuration error names the variable and its rule, never its value.
    if (!(error instanceof ConfigError)) throw error
    console.error(`ops configuration error: ${error.message}`)
    process.exitCode = 1
  }
}
