// Streamed completions from the offline local backend, paid on a real local
// chain, over a real HTTP server: the official `openai` SDK (a plain client),
// raw SSE, and the charge exactly what was delivered.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Receipt } from '../../src/protocol/receipt.js'
import { chatBody, eventsOf, localModel, startStreamGateway } from '../support/stream-gateway.js'

type Gateway = Awaited<ReturnType<typeof startStreamGateway>>
let gateway: Gateway

beforeAll(async () => {
  gateway = await startStreamGateway({ backend: 'local', streaming: { windowTokens: 4 } })
}, 60_000)
afterAll(() => gateway?.stop())

/** The session client's paying fetch under the signature the OpenAI SDK calls it with. */
function payingFetch(client: ReturnType<Gateway['payer']>['client']): typeof fetch {
  return async (input, init) => {
    // The SDK's bearer key means nothing here: the credential takes Authorization.
    const headers = Object.fromEntries([...new Headers(init?.headers).entries()].filter(([name]) => name !== 'authorization'))
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    return client.fetch(url, {
      method: init?.method ?? 'GET',
      headers,
      ...(typeof init?.body === 'string' ? { body: init.body } : {}),
      ...(init?.signal ? { signal: init.signal } : {}),
    })
  }
}

const spentOf = async (channelId: `0x${string}`) => (await gateway.store.getChannel(channelId))!

describe('streamed completions from the local backend', () => {
  it('streams to the openai SDK the same answer as a complete response, charged exactly its usage', async () => {
    const { client, channel } = gateway.payer(0)
    const openai = new OpenAI({ apiKey: 'unused', baseURL: `${gateway.origin}/v1/mpp`, fetch: payingFetch(client), maxRetries: 0 })
    const messages = [{ role: 'user' as const, content: 'Tell me about vouchers.' }]
    const complete = await openai.chat.completions.create({ model: localModel.id, messages, max_tokens: 100 })
    const before = await spentOf(channel().channelId)

    const stream = await openai.chat.completions.create({ model: localModel.id, messages, max_tokens: 100, stream: true })
    const chunks: OpenAI.ChatCompletionChunk[] = []
    for await (const chunk of stream) chunks.push(chunk)

    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk')).toBe(true)
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe(complete.choices[0]!.message.content)
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop')
    const usage = complete.usage!
    const cost = BigInt(usage.prompt_tokens) * localModel.inputTokenPrice + BigInt(usage.completion_tokens) * localModel.outputTokenPrice
    const after = await spentOf(channel().channelId)
    expect(after.spent - before.spent).toBe(cost)
    expect(after.reservations).toEqual({})
  })

  it('sends Payment-Receipt with the first window charged, and the final receipt after [DONE]', async () => {
    const { client, channel } = gateway.payer(1)
    const response = await client.fetch(gateway.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: chatBody(localModel.id),
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('Content-Type')).toBe('text/event-stream; charset=utf-8')
    expect(response.headers.get('Cache-Control')).toMatch(/private/)
    const initial = Receipt.parse(response.headers.get('Payment-Receipt')!)
    const events = await eventsOf(response)
    const doneAt = events.findIndex((event) => event.data === '[DONE]')
    expect(doneAt).toBe(events.length - 2)
    expect(events.slice(0, doneAt).every((event) => event.event === undefined)).toBe(true)
    const last = events.at(-1)!
    expect(last.event).toBe('payment-receipt')
    const final = JSON.parse(last.data) as Record<string, unknown>
    const state = await spentOf(channel().channelId)
    expect(final).toMatchObject({
      method: 'tempo',
      intent: 'session',
      status: 'success',
      channelId: channel().channelId,
      spent: `${state.spent}`,
    })
    // The first window was charged before the response started: the prompt plus 4 tokens.
    expect(BigInt(initial.spent as string)).toBeGreaterThan(0n)
    const content = events
      .slice(0, doneAt)
      .map((event) => (JSON.parse(event.data).choices[0]?.delta.content as string | undefined) ?? '')
      .join('')
    expect(final.units).toBeGreaterThan(0)
    expect(content.length).toBeGreaterThan(0)
  })

  it('answers an Idempotency-Key retry of a completed stream with the stored stream, charging nothing again', async () => {
    const { client, channel } = gateway.payer(2)
    const init = {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'stream-once' },
      body: chatBody(localModel.id, { content: 'Once only, please.' }),
    }
    const first = await client.fetch(gateway.url, init)
    const firstText = await first.text()
    const spent = (await spentOf(channel().channelId)).spent

    const retry = await client.fetch(gateway.url, init)
    expect(retry.status).toBe(200)
    expect(retry.headers.get('Content-Type')).toBe('text/event-stream')
    expect(await retry.text()).toBe(firstText)
    const receipt = Receipt.parse(retry.headers.get('Payment-Receipt')!)
    expect(receipt.spent).toBe(`${spent}`)
    expect((await spentOf(channel().channelId)).spent).toBe(spent)
  })
})
