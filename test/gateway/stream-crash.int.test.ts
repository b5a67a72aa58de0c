// A gateway process SIGKILLed in the middle of a metered stream (session spec
// §Crash Safety): what the client received was charged before it was sent, so
// the store holds at least its cost, and at most one window more.
import { type Hex, http, type LocalAccount } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { promptTokens, utf8Length } from '../../src/chat/tokens.js'
import { sessionClient } from '../../src/client/session-client.js'
import { readEvents } from '../../src/protocol/sse.js'
import { testAccounts, zeroFees } from '../harness/local-chain.js'
import { type Cluster, startCluster } from '../support/cluster.js'
import { chatRequest } from '../support/gateway.js'
import type { ServerProcess } from '../support/processes.js'
import { chatBody } from '../support/stream-gateway.js'

const base = 'http://gateway.test'
const url = `${base}/v1/mpp/chat/completions`
const windowTokens = 8
// The fake upstream's models have no encoding: tokens are bounded by UTF-8 bytes; 10 per input, 20 per output token.
const inputPrice = 10n
const outputPrice = 20n

let cluster: Cluster
let gateway: ServerProcess
beforeAll(async () => {
  cluster = await startCluster()
  gateway = await cluster.startGateway({ STREAM_WINDOW_TOKENS: String(windowTokens) })
}, 90_000)
afterAll(async () => {
  await cluster?.stop()
})

describe('a gateway killed mid-stream', () => {
  it('leaves spent at least the cost of what the client received, and at most one window more', async () => {
    const client = sessionClient({
      account: testAccounts[6]! as LocalAccount,
      chain: cluster.anvil.chain,
      transport: http(cluster.anvil.rpcUrl),
      deposit: 1_000_000n,
      fees: zeroFees,
      fetch: ((input: string | URL | Request, init?: RequestInit) => fetch(String(input).replace(base, gateway.url), init)) as typeof fetch,
    })
    expect((await client.fetch(url, chatRequest('usage:40,60'))).status).toBe(200)
    const channelId = [...client.channels.values()][0]!.channelId as Hex
    const before = await cluster.channel(channelId)

    const body = chatBody('stream-slow:300')
    const response = await client.fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })
    expect(response.status).toBe(200)
    const received: string[] = []
    for await (const event of readEvents(response.body!)) {
      const content = JSON.parse(event.data).choices[0]?.delta.content
      if (content) received.push(content)
      if (received.length === 3) break
    }
    process.kill(gateway.pid, 'SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 200))

    const after = await cluster.channel(channelId)
    const prompt = BigInt(await promptTokens(JSON.parse(body), undefined)) * inputPrice
    const delivered = BigInt(utf8Length(received.join(''))) * outputPrice
    const charged = after.spent - before.spent
    expect(received.join('')).toBe('Fake upstream streamed')
    expect(charged).toBeGreaterThanOrEqual(prompt + delivered)
    expect(charged).toBeLessThanOrEqual(prompt + delivered + BigInt(windowTokens) * outputPrice)
    // The dead process's reservation is still held; it lapses with its lifetime, never charged.
    expect(Object.keys(after.reservations)).toHaveLength(1)
  })
})
