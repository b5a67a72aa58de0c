// Row 9: what metering adds to a streamed completion. The same stream from the
// local backend, in process, through the whole gateway (payment middleware,
// session engine on the memory store, windows charged as it goes) and through an
// unpaid twin that only writes the backend's chunks as SSE, in alternation:
// gateway CPU per chunk (process CPU while the stream is produced and read) of a
// 1,000-chunk stream, and the marginal CPU per chunk (a 2,000-chunk stream's
// minus a 1,000-chunk one's: metering without the request's fixed payment
// cost), time to first byte, store writes per window.
import { Hono } from 'hono'
import type { Address } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createGateway } from '../../src/app.js'
import type { ChatBackend } from '../../src/chat/backend.js'
import type { ModelPrice } from '../../src/chat/catalogue.js'
import { localBackend } from '../../src/chat/local-backend.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { formatEvent } from '../../src/protocol/sse.js'
import { acceptVoucher, fromChain } from '../../src/session/channel.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { memoryStore } from '../../src/stores/memory.js'
import type { SessionStore } from '../../src/stores/store.js'
import { currency, memoryEscrow, privateKeyOf, recipient, secretKey, voucherContext } from './fixture.js'
import { median } from './harness.js'

export type StreamResult = {
  chunks: number
  windowTokens: number
  streams: number
  /** Gateway CPU per streamed chunk, µs (all streams' CPU over all their chunks). */
  paidMicrosecondsPerChunk: number
  unpaidMicrosecondsPerChunk: number
  /** paid / unpaid − 1 for the 1,000-chunk stream: what payment and metering add to its CPU. */
  paidShare: number
  /** Marginal CPU per chunk (2,000-chunk stream minus 1,000-chunk one, over 1,000 chunks), µs, and paid / unpaid − 1. */
  paidMarginalMicrosecondsPerChunk: number
  unpaidMarginalMicrosecondsPerChunk: number
  meteringShare: number
  /** Time to first byte, ms (medians), and the paid one minus the unpaid one. */
  paidFirstByteMs: number
  unpaidFirstByteMs: number
  firstByteDeltaMs: number
  /** Store writes during a paid stream (its request's reservation included) per window charged. */
  writesPerWindow: number
}

const model: ModelPrice = { id: 'bench-stream', inputTokenPrice: 1n, outputTokenPrice: 1n, maxOutputTokens: 8_000, encoding: 'o200k_base' }
const windowTokens = 64
const body = JSON.stringify({ model: model.id, max_tokens: 4_000, stream: true, messages: [{ role: 'user', content: 'Stream.' }] })
const path = '/v1/mpp/chat/completions'

/** Reads a streamed response to its end: the time its first bytes arrived and the chunks (events) it carried. */
async function drain(started: number, response: Response): Promise<{ firstByteMs: number; events: number }> {
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  let firstByteMs = Number.NaN
  let events = 0
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return { firstByteMs, events }
    if (Number.isNaN(firstByteMs)) firstByteMs = performance.now() - started
    events += decoder.decode(value, { stream: true }).split('\n\n').length - 1
  }
}

export async function benchStream(options: { streams: number; warmup: number }): Promise<StreamResult> {
  // One backend whose reply is 1,000 or 2,000 words (a word a chunk), switched between runs.
  const lengths = {
    short: localBackend({ catalogue: [model], replyWords: 1_000 }),
    long: localBackend({ catalogue: [model], replyWords: 2_000 }),
  }
  let length: keyof typeof lengths = 'short'
  const backend: ChatBackend = {
    complete: (request, options) => lengths[length].complete(request, options),
    stream: (request, options) => lengths[length].stream!(request, options),
  }
  const memory = memoryStore()
  let writes = 0
  const store: SessionStore = {
    ...memory,
    updateChannel(channelId, update) {
      writes++
      return memory.updateChannel(channelId, update)
    },
  }
  const escrow = memoryEscrow()
  const { app: paidApp } = createGateway({
    realm: 'bench.local',
    secretKey,
    escrow,
    store,
    recipient,
    currency,
    backend,
    catalogue: [model],
    streaming: { windowTokens },
    logger: () => {},
  })
  // The unpaid twin: the backend's chunks written as SSE, nothing counted or charged.
  const unpaidApp = new Hono()
  unpaidApp.post(path, async (c) => {
    const request = JSON.parse(await c.req.text())
    const chunks = backend.stream!(request)[Symbol.asyncIterator]()
    const encoder = new TextEncoder()
    const stream = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const next = await chunks.next()
          if (next.done) {
            controller.enqueue(encoder.encode(formatEvent('[DONE]')))
            controller.close()
          } else controller.enqueue(encoder.encode(formatEvent(JSON.stringify(next.value))))
        },
      },
      { highWaterMark: 0 },
    )
    return new Response(stream, { headers: { 'Content-Type': 'text/event-stream; charset=utf-8' } })
  })

  // One channel with a voucher covering every stream of the run: each paid stream is paid from the accepted bucket.
  const account = privateKeyToAccount(privateKeyOf(0))
  const channelId = `0x${'5a'.repeat(32)}` as const
  const deposit = 10n ** 30n
  escrow.channels.set(channelId, {
    payer: account.address.toLowerCase() as Address,
    payee: recipient,
    token: currency,
    authorizedSigner: '0x0000000000000000000000000000000000000000',
    deposit,
    settled: 0n,
    closeRequestedAt: 0n,
    finalized: false,
  })
  const signature = await signVoucher(account, voucherContext, { channelId, cumulativeAmount: deposit })
  const now = Date.now()
  await store.updateChannel(channelId, () => ({
    state: acceptVoucher(fromChain(channelId, escrow.channels.get(channelId)!, now), { amount: deposit, signature }, { now }),
    result: undefined,
  }))
  const payload = { action: 'voucher', channelId, cumulativeAmount: deposit.toString(), signature }
  const post = (app: { request: Hono['request'] }, headers: Record<string, string> = {}) =>
    app.request(path, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } })

  async function paid() {
    const unpaid = await post(paidApp)
    const authorization = Credential.format({ challenge: Challenge.parse(unpaid.headers.get('WWW-Authenticate')!), payload })
    writes = 0
    const cpu = process.cpuUsage()
    const started = performance.now()
    const response = await post(paidApp, { Authorization: authorization })
    if (response.status !== 200) throw new Error(`paid stream answered ${response.status}`)
    const drained = await drain(started, response)
    const used = process.cpuUsage(cpu)
    return { ...drained, cpuMicroseconds: used.user + used.system, writes }
  }
  async function unpaid() {
    const cpu = process.cpuUsage()
    const started = performance.now()
    const drained = await drain(started, await post(unpaidApp))
    const used = process.cpuUsage(cpu)
    return { ...drained, cpuMicroseconds: used.user + used.system }
  }

  const runs = { short: { paid: [] as Run[], unpaid: [] as Run[] }, long: { paid: [] as Run[], unpaid: [] as Run[] } }
  for (let i = 0; i < options.warmup + options.streams; i++) {
    for (const which of ['short', 'long'] as const) {
      length = which
      const paidRun = await paid()
      const unpaidRun = await unpaid()
      if (i < options.warmup) continue
      runs[which].paid.push(paidRun)
      runs[which].unpaid.push(unpaidRun)
    }
  }
  // Chunks: the completion's events (the unpaid twin sends the same ones, plus `[DONE]`).
  const chunks = runs.short.unpaid[0]!.events - 1
  const longChunks = runs.long.unpaid[0]!.events - 1
  // Totals over all streams: one stream is a few ms, where a collection or a neighbour's burst can double it.
  const perStream = (list: Run[]) => list.reduce((sum, run) => sum + run.cpuMicroseconds, 0) / list.length
  const paidPerChunk = perStream(runs.short.paid) / chunks
  const unpaidPerChunk = perStream(runs.short.unpaid) / chunks
  const paidMarginal = (perStream(runs.long.paid) - perStream(runs.short.paid)) / (longChunks - chunks)
  const unpaidMarginal = (perStream(runs.long.unpaid) - perStream(runs.short.unpaid)) / (longChunks - chunks)
  const paidFirstByteMs = median(runs.short.paid.map((run) => run.firstByteMs))
  const unpaidFirstByteMs = median(runs.short.unpaid.map((run) => run.firstByteMs))
  // Windows: the completion's tokens (one word, one token a chunk here) over the window, rounded up.
  const windows = Math.ceil(chunks / windowTokens)
  return {
    chunks,
    windowTokens,
    streams: options.streams,
    paidMicrosecondsPerChunk: paidPerChunk,
    unpaidMicrosecondsPerChunk: unpaidPerChunk,
    paidShare: paidPerChunk / unpaidPerChunk - 1,
    paidMarginalMicrosecondsPerChunk: paidMarginal,
    unpaidMarginalMicrosecondsPerChunk: unpaidMarginal,
    meteringShare: paidMarginal / unpaidMarginal - 1,
    paidFirstByteMs,
    unpaidFirstByteMs,
    firstByteDeltaMs: paidFirstByteMs - unpaidFirstByteMs,
    writesPerWindow: median(runs.short.paid.map((run) => run.writes ?? 0)) / windows,
  }
}

type Run = { firstByteMs: number; events: number; cpuMicroseconds: number; writes?: number }
