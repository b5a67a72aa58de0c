// Streamed completions from an OpenAI-compatible upstream (the fake upstream
// process): usage normalised, upstream failures before the first chunk
// answered as today and never charged, a stream cut mid-way or abandoned by
// its client charged what was delivered. Paid on a real local chain.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { promptTokens, utf8Length } from '../../src/chat/tokens.js'
import { readEvents } from '../../src/protocol/sse.js'
import { chatBody, eventsOf, startStreamGateway } from '../support/stream-gateway.js'

type Gateway = Awaited<ReturnType<typeof startStreamGateway>>
let gateway: Gateway

beforeAll(async () => {
  gateway = await startStreamGateway({ backend: 'upstream', streaming: { windowTokens: 8 } })
}, 60_000)
afterAll(() => gateway?.stop())

const post = (body: string) => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body })
const chunksOf = (events: { event?: string; data: string }[]) =>
  events.filter((event) => event.event === undefined && event.data !== '[DONE]').map((event) => JSON.parse(event.data))
const text = (chunks: { choices: { delta: { content?: string } }[] }[]) =>
  chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')
/** What the route quotes a prompt at for these models (no encoding: the byte bound), times the input price. */
const promptCost = async (body: string) => BigInt(await promptTokens(JSON.parse(body), undefined)) * 10n

describe('streamed completions from an OpenAI-compatible upstream', () => {
  it("charges the upstream's reported usage, asks it for usage, and forwards usage only to a client that asked", async () => {
    const { client, channel } = gateway.payer(0)
    const plain = await client.fetch(gateway.url, post(chatBody('usage:30,9')))
    const plainChunks = chunksOf(await eventsOf(plain))
    expect((await gateway.upstream!.lastRequest())!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } })
    expect(plainChunks.every((chunk) => !('usage' in chunk) && chunk.choices.length === 1)).toBe(true)
    expect(text(plainChunks)).toBe('Fake upstream streamed reply with several words in it.')
    const first = (await gateway.store.getChannel(channel().channelId))!
    expect(first.spent).toBe(30n * 10n + 9n * 20n)
    expect(first.reservations).toEqual({})

    const asked = await client.fetch(gateway.url, post(chatBody('usage:30,9', { includeUsage: true })))
    const askedChunks = chunksOf(await eventsOf(asked))
    expect(askedChunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 30, completion_tokens: 9, total_tokens: 39 } })
    expect((await gateway.store.getChannel(channel().channelId))!.spent - first.spent).toBe(30n * 10n + 9n * 20n)
  })

  it('answers an upstream failure before the first chunk as today, charging nothing', async () => {
    const { client, channel } = gateway.payer(1)
    await client.fetch(gateway.url, post(chatBody('ok', { maxTokens: 1, stream: false })))
    const before = (await gateway.store.getChannel(channel().channelId))!
    const failed = await client.fetch(gateway.url, post(chatBody('fail:500')))
    expect(failed.status).toBe(502)
    expect(failed.headers.get('Payment-Receipt')).toBeNull()
    expect(await failed.json()).toMatchObject({ code: 'upstream_500' })
    const after = (await gateway.store.getChannel(channel().channelId))!
    expect(after.spent).toBe(before.spent)
    expect(after.reservations).toEqual({})
  })

  it('ends a stream the upstream cuts with an error event, charging the prompt and what was delivered', async () => {
    const { client, channel } = gateway.payer(2)
    await client.fetch(gateway.url, post(chatBody('ok', { maxTokens: 1, stream: false })))
    const before = (await gateway.store.getChannel(channel().channelId))!
    const body = chatBody('stream-cut:4')
    const response = await client.fetch(gateway.url, post(body))
    expect(response.status).toBe(200)
    const events = await eventsOf(response)
    expect(events.map((event) => event.event ?? 'chunk').slice(-2)).toEqual(['error', 'payment-receipt'])
    expect(JSON.parse(events.at(-2)!.data)).toMatchObject({ code: 'upstream_unavailable', error: { code: 'upstream_unavailable' } })
    const delivered = text(chunksOf(events))
    expect(delivered).toBe('Fake upstream streamed')
    const after = (await gateway.store.getChannel(channel().channelId))!
    // No encoding for these models: completion tokens are bounded by UTF-8 bytes, as the quote bounds them.
    expect(after.spent - before.spent).toBe((await promptCost(body)) + BigInt(utf8Length(delivered)) * 20n)
    expect(after.reservations).toEqual({})
  })

  it('charges what was delivered when the client goes away mid-stream, and frees the reservation', async () => {
    const { client, channel } = gateway.payer(5)
    await client.fetch(gateway.url, post(chatBody('ok', { maxTokens: 1, stream: false })))
    const before = (await gateway.store.getChannel(channel().channelId))!
    const body = chatBody('stream-slow:100')
    const abandoned = await gateway.upstream!.abandonedStreams()
    const abort = new AbortController()
    const response = await client.fetch(gateway.url, { ...post(body), signal: abort.signal })
    const received: string[] = []
    const prompt = await promptCost(body)
    for await (const event of readEvents(response.body!)) {
      received.push(JSON.parse(event.data).choices[0]?.delta.content ?? '')
      // Charged before delivered: whatever arrived is already in `spent` (a crash now would lose the payee nothing).
      const spent = (await gateway.store.getChannel(channel().channelId))!.spent - before.spent
      expect(spent).toBeGreaterThanOrEqual(prompt + BigInt(utf8Length(received.join(''))) * 20n)
      if (received.length === 3) break
    }
    abort.abort()
    let after = (await gateway.store.getChannel(channel().channelId))!
    for (let i = 0; i < 50 && Object.keys(after.reservations).length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      after = (await gateway.store.getChannel(channel().channelId))!
    }
    expect(after.reservations).toEqual({})
    // The gateway closed its upstream request.
    expect(await gateway.upstream!.abandonedStreams()).toBe(abandoned + 1)
    // Delivered: the chunks read, and at most the one the server wrote while the client stopped.
    const read = BigInt(utf8Length(received.join(''))) * 20n
    expect(after.spent - before.spent).toBeGreaterThanOrEqual(prompt + read)
    expect(after.spent - before.spent).toBeLessThanOrEqual(prompt + read + BigInt(utf8Length(' upstream')) * 20n)
    // The stream stopped there: nothing more is charged later.
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect((await gateway.store.getChannel(channel().channelId))!.spent).toBe(after.spent)
  })
})
