// Streamed completions on the Worker entry inside workerd, paid on the real
// anvil of the global setup, state in the Durable Objects: a metered stream
// through the session client, and a stream its client abandons, whose end is
// charged after the response is gone (`waitUntil`).
import { env, exports } from 'cloudflare:workers'
import { type Hex, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, inject, it } from 'vitest'
import { defaultCatalogue } from '../../src/chat/catalogue.js'
import { promptTokens, textCounter } from '../../src/chat/tokens.js'
import { sessionClient } from '../../src/client/session-client.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { readEvents } from '../../src/protocol/sse.js'
import { durableObjectStore } from '../../src/stores/cloudflare/store.js'
import worker from '../../src/worker.js'
import { chain, url } from './support.js'

const model = defaultCatalogue[0]!
const body = (content: string) => ({ model: model.id, max_tokens: 64, stream: true, messages: [{ role: 'user' as const, content }] })
const ask = (content: string) => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body(content)) })
const fetchWorker = (input: string | URL | Request, init?: RequestInit) => exports.default.fetch(input, init)

describe('streaming on the Worker', () => {
  it('streams a metered completion paid through the session client, and charges an abandoned one what it delivered', async () => {
    const account = privateKeyToAccount(inject('payerKeys')[2] as Hex)
    const client = sessionClient({
      account,
      chain: chain(),
      transport: http(inject('rpcUrl')),
      deposit: 1_000_000n,
      fees: { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n },
      fetch: fetchWorker as typeof fetch,
    })
    const store = durableObjectStore(env)
    const count = await textCounter(model.encoding)

    const stream = await client.stream(url, ask('What is a voucher?'))
    expect(stream.response.status).toBe(200)
    expect(Receipt.parse(stream.response.headers.get('Payment-Receipt')!)).toMatchObject({ method: 'tempo', intent: 'session' })
    let content = ''
    for await (const event of stream.events) if (event.data !== '[DONE]') content += JSON.parse(event.data).choices[0]?.delta.content ?? ''
    const channelId = [...client.channels.values()][0]!.channelId
    const prompt = BigInt(await promptTokens(body('What is a voucher?'), model.encoding)) * model.inputTokenPrice
    const spent = (await store.getChannel(channelId))!.spent
    expect(spent).toBe(prompt + BigInt(count(content)) * model.outputTokenPrice)
    expect(stream.receipt()).toMatchObject({ spent: `${spent}` })

    // The Worker called as the runtime does, with an execution context whose `waitUntil` this test can await:
    // the client reads three chunks and goes away; the stream's end is charged after the response is gone.
    const waited: Promise<unknown>[] = []
    const context = { waitUntil: (work: Promise<unknown>) => void waited.push(work), passThroughOnException() {}, props: {} }
    const direct = sessionClient({
      account,
      chain: chain(),
      transport: http(inject('rpcUrl')),
      deposit: 1_000_000n,
      fees: { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n },
      fetch: ((input: string, init?: RequestInit) => worker.fetch(new Request(input, init), env, context)) as typeof fetch,
    })
    const abandoned = await direct.fetch(url, ask('Tell me everything about channels.'))
    const directChannel = [...direct.channels.values()][0]!.channelId
    const events = readEvents(abandoned.body!)
    let received = ''
    for (let i = 0; i < 3; i++) received += JSON.parse((await events.next()).value!.data).choices[0]?.delta.content ?? ''
    // The stream holds the execution context open while it runs, and lets it go once its end is written.
    let released = false
    void Promise.all(waited).then(() => (released = true))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect([waited.length, released]).toEqual([1, false])
    await events.return(undefined)
    void abandoned.body!.cancel()
    await Promise.all(waited)
    const state = (await store.getChannel(directChannel))!
    expect(state.reservations).toEqual({})
    const abandonedPrompt = BigInt(await promptTokens(body('Tell me everything about channels.'), model.encoding)) * model.inputTokenPrice
    expect(state.spent).toBe(abandonedPrompt + BigInt(count(received)) * model.outputTokenPrice)
  })
})
