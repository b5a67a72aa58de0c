// Metered streams (MPP-Stream: metered): one window reserved at a time, a
// `payment-need-voucher` when the channel cannot cover the next, resumed on the
// same connection when a voucher arrives on a parallel HEAD, ended after the
// voucher timeout charging what was delivered. The project's session client on
// a real local chain, over a real HTTP server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { localBackend } from '../../src/chat/local-backend.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { chatBody, eventsOf, localModel, startStreamGateway } from '../support/stream-gateway.js'

type Gateway = Awaited<ReturnType<typeof startStreamGateway>>
let gateway: Gateway
const windowTokens = 4
const voucherTimeoutMs = 600

beforeAll(async () => {
  // Buckets of 100 base units: every window (4 tokens × 20) needs a new voucher.
  gateway = await startStreamGateway({
    backend: 'local',
    streaming: { windowTokens, voucherTimeoutMs, pollMs: 20 },
    session: { bucketSize: 100n, minDeposit: 100n },
  })
}, 60_000)
afterAll(() => gateway?.stop())

const request = (content: string) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: chatBody(localModel.id, { content, stream: true }),
})
const contentOf = (events: { event?: string; data: string }[]) =>
  events
    .filter((event) => event.event === undefined && event.data !== '[DONE]')
    .map((event) => (JSON.parse(event.data).choices[0]?.delta.content as string | undefined) ?? '')
    .join('')

describe('metered streams', () => {
  it('asks for vouchers mid-stream, resumes on the same connection, and charges exactly the usage', async () => {
    const { client, channel } = gateway.payer(0)
    const prompt = 'Tell me a long story about vouchers.'
    // What the same request answers complete: the reply and usage the stream must deliver and charge.
    const { usage, choices } = await localBackend({ catalogue: [localModel] }).complete(
      JSON.parse(chatBody(localModel.id, { content: prompt })),
    )

    const stream = await client.stream(gateway.url, request(prompt))
    expect(stream.response.status).toBe(200)
    const initial = Receipt.parse(stream.response.headers.get('Payment-Receipt')!)
    const events = []
    for await (const event of stream.events) events.push(event)
    expect(contentOf(events)).toBe(choices[0]!.message.content)
    expect(events.at(-1)!.data).toBe('[DONE]')

    const cost = BigInt(usage.prompt_tokens) * localModel.inputTokenPrice + BigInt(usage.completion_tokens) * localModel.outputTokenPrice
    const state = (await gateway.store.getChannel(channel().channelId))!
    expect(state.spent).toBe(cost)
    expect(state.reservations).toEqual({})
    expect(stream.receipt()).toMatchObject({ spent: `${state.spent}`, units: usage.prompt_tokens + usage.completion_tokens })
    // The reply needed several windows past the first, each a voucher: the accepted amount grew during the stream.
    expect(state.acceptedCumulative).toBeGreaterThan(BigInt(initial.acceptedCumulative as string))
    expect(usage.completion_tokens).toBeGreaterThan(2 * windowTokens)
  })

  it('ends the stream after the voucher timeout, charging what was delivered', async () => {
    const { client, channel } = gateway.payer(1)
    // Opens the channel (one token); the stream below is then paid with raw credentials and never answers its need.
    await client.fetch(gateway.url, { ...request('open'), body: chatBody(localModel.id, { content: 'open', stream: false, maxTokens: 1 }) })
    const before = (await gateway.store.getChannel(channel().channelId))!
    const unpaid = await fetch(gateway.url, {
      ...request('Tell me a long story about vouchers.'),
      headers: { 'Content-Type': 'application/json', 'MPP-Stream': 'metered' },
    })
    const challenge = Challenge.parse(unpaid.headers.get('WWW-Authenticate')!)
    // Exactly what the stream's quote (its prompt and first window) needs on this channel: nothing beyond.
    const required = before.spent + BigInt(String(Challenge.request(challenge).amount))
    const { signVoucher } = await import('../../src/session/v1/voucher.js')
    const { account } = gateway.payer(1)
    const voucher = { channelId: channel().channelId, cumulativeAmount: required }
    const signature = await signVoucher(account, channel(), voucher)
    const payload = { action: 'voucher', channelId: voucher.channelId, cumulativeAmount: `${required}`, signature }
    const started = Date.now()
    const response = await fetch(gateway.url, {
      ...request('Tell me a long story about vouchers.'),
      headers: { 'Content-Type': 'application/json', 'MPP-Stream': 'metered', Authorization: Credential.format({ challenge, payload }) },
    })
    expect(response.status).toBe(200)
    const events = await eventsOf(response)
    expect(Date.now() - started).toBeGreaterThanOrEqual(voucherTimeoutMs)
    const need = events.find((event) => event.event === 'payment-need-voucher')!
    expect(JSON.parse(need.data)).toMatchObject({
      channelId: channel().channelId,
      acceptedCumulative: `${required}`,
      deposit: `${before.deposit}`,
    })
    expect(BigInt(JSON.parse(need.data).requiredCumulative)).toBeGreaterThan(required)
    const names = events.map((event) => event.event ?? 'chunk')
    expect(names.slice(-2)).toEqual(['error', 'payment-receipt'])
    expect(JSON.parse(events.at(-2)!.data)).toMatchObject({ code: 'mpp_voucher_bucket_refresh_required' })
    expect(events.some((event) => event.data === '[DONE]')).toBe(false)

    // Charged: the prompt and the tokens delivered, nothing for the window never paid.
    const { promptTokens } = await import('../../src/chat/tokens.js')
    const { textCounter } = await import('../../src/chat/tokens.js')
    const count = await textCounter(localModel.encoding)
    const delivered = count(contentOf(events))
    const body = JSON.parse(chatBody(localModel.id, { content: 'Tell me a long story about vouchers.', stream: true }))
    const prompt = await promptTokens(body, localModel.encoding)
    const after = (await gateway.store.getChannel(channel().channelId))!
    expect(after.spent - before.spent).toBe(BigInt(prompt) * localModel.inputTokenPrice + BigInt(delivered) * localModel.outputTokenPrice)
    expect(after.reservations).toEqual({})
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ spent: `${after.spent}` })
  })

  it('resumes when the voucher arrives on another instance sharing the store', async () => {
    const { client, channel, account } = gateway.payer(2)
    await client.fetch(gateway.url, { ...request('open'), body: chatBody(localModel.id, { content: 'open', stream: false, maxTokens: 1 }) })
    const prompt = 'Tell me a long story about vouchers.'
    const { usage } = await localBackend({ catalogue: [localModel] }).complete(JSON.parse(chatBody(localModel.id, { content: prompt })))
    const before = (await gateway.store.getChannel(channel().channelId))!
    const { signVoucher } = await import('../../src/session/v1/voucher.js')
    const sign = async (amount: bigint) => ({
      action: 'voucher',
      channelId: channel().channelId,
      cumulativeAmount: `${amount}`,
      signature: await signVoucher(account, channel(), { channelId: channel().channelId, cumulativeAmount: amount }),
    })
    const headers = { 'Content-Type': 'application/json', 'MPP-Stream': 'metered' }
    const unpaid = await fetch(gateway.url, { ...request(prompt), headers })
    const challenge = Challenge.parse(unpaid.headers.get('WWW-Authenticate')!)
    const first = before.spent + BigInt(String(Challenge.request(challenge).amount))
    const response = await fetch(gateway.url, {
      ...request(prompt),
      headers: { ...headers, Authorization: Credential.format({ challenge, payload: await sign(first) }) },
    })
    expect(response.status).toBe(200)
    const { readEvents } = await import('../../src/protocol/sse.js')
    const events: { event?: string; data: string }[] = []
    let needs = 0
    for await (const event of readEvents(response.body!)) {
      events.push(event)
      if (event.event !== 'payment-need-voucher') continue
      needs++
      // The voucher goes to the other instance, on a HEAD with that instance's management challenge.
      const head = await fetch(gateway.secondUrl, { method: 'HEAD' })
      const management = Challenge.parse(head.headers.get('WWW-Authenticate')!)
      const payload = await sign(BigInt(JSON.parse(event.data).requiredCumulative))
      const answered = await fetch(gateway.secondUrl, {
        method: 'HEAD',
        headers: { Authorization: Credential.format({ challenge: management, payload }) },
      })
      expect(answered.status).toBe(200)
    }
    expect(needs).toBeGreaterThan(0)
    expect(events.map((event) => event.event ?? 'chunk').slice(-2)).toEqual(['chunk', 'payment-receipt'])
    expect(events.at(-2)!.data).toBe('[DONE]')
    const cost = BigInt(usage.prompt_tokens) * localModel.inputTokenPrice + BigInt(usage.completion_tokens) * localModel.outputTokenPrice
    const after = (await gateway.store.getChannel(channel().channelId))!
    expect(after.spent - before.spent).toBe(cost)
    expect(after.reservations).toEqual({})
  })

  it('has the session client top up when the next window needs more than the deposit', async () => {
    const prompt = 'Tell me a long story about vouchers.'
    const { usage } = await localBackend({ catalogue: [localModel] }).complete(JSON.parse(chatBody(localModel.id, { content: prompt })))
    // A deposit that covers the quote (prompt and first window) and nothing more.
    const quote = (
      await fetch(gateway.url, { ...request(prompt), headers: { 'Content-Type': 'application/json', 'MPP-Stream': 'metered' } })
    ).headers
    const amount = BigInt(String(Challenge.request(Challenge.parse(quote.get('WWW-Authenticate')!)).amount))
    const { client, channel } = gateway.payer(6, amount)
    const stream = await client.stream(gateway.url, request(prompt))
    for await (const _ of stream.events);
    const cost = BigInt(usage.prompt_tokens) * localModel.inputTokenPrice + BigInt(usage.completion_tokens) * localModel.outputTokenPrice
    const state = (await gateway.store.getChannel(channel().channelId))!
    expect(state.spent).toBe(cost)
    expect(state.deposit).toBeGreaterThan(amount)
    expect(channel().deposit).toBe(state.deposit)
    expect(stream.receipt()).toMatchObject({ spent: `${cost}` })
  })
})
