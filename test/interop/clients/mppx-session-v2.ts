// The published mppx 0.11 client's default session method (`tempo.session`,
// TIP-1034, sessionProtocol v2), unmodified, paying chat completions on the
// gateway over the channel reserve stand-in: run by
// test/interop/mppx-v2.int.test.ts as a child process (mppx and its viem 2.55
// from this nested package).
//
// Argument: JSON { url, rpcUrl, chainId, privateKey, completions, maxDeposit }.
// The session manager (`tempo.session.manager`) asks N completions, then closes
// with its own close(). Prints one JSON line: what happened.
//
// The one change to the client's world is anvil's, as in mppx-session.ts:
// anvil's `eth_fillTransaction` ignores the calls of a `0x76` transaction and
// under-reports its gas, so the transport raises it to a fixed limit (an open
// on the stand-in under hardfork t4 uses ~600k: new storage slots cost ~250k each).
import { tempo } from 'mppx/client'
import { privateKeyToAccount } from 'viem/accounts'
import { anvilClient } from './anvil-client.js'

type Input = { url: string; rpcUrl: string; chainId: number; privateKey: `0x${string}`; completions: number; maxDeposit: string }

const input = JSON.parse(process.argv[2]!) as Input
const account = privateKeyToAccount(input.privateKey)

const client = anvilClient(input.rpcUrl, input.chainId, 3_000_000n)

const ask = (i: number) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ model: 'local-echo', max_tokens: 32, messages: [{ role: 'user', content: `Question ${i}: what is a voucher?` }] }),
})

type Receipt = { channelId: string; spent: string; acceptedCumulative: string; txHash?: string }
const completions: { status: number; receipt?: unknown; content?: string | undefined; problem?: unknown }[] = []
let close: { receipt?: unknown } | { error: string } | undefined
let failure: string | undefined

try {
  const manager = tempo.session.manager({
    account,
    getClient: () => client,
    maxDeposit: input.maxDeposit,
    allowedChainIds: [input.chainId],
  } as never) as unknown as {
    fetch: (url: string, init: RequestInit) => Promise<Response & { receipt?: Receipt }>
    close: () => Promise<unknown>
    channelId?: string
  }
  for (let i = 0; i < input.completions; i++) {
    const response = await manager.fetch(input.url, ask(i))
    const body = (await response.json()) as { choices?: { message: { content: string } }[] }
    completions.push({
      status: response.status,
      receipt: response.receipt,
      content: body.choices?.[0]?.message.content,
      ...(response.ok ? {} : { problem: body }),
    })
  }
  try {
    close = { receipt: await manager.close() }
  } catch (error) {
    close = { error: error instanceof Error ? error.message : String(error) }
  }
} catch (error) {
  failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

process.stdout.write(`${JSON.stringify({ completions, close, failure }, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`)
