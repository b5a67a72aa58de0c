// A paid streamed completion (README: Streaming): OpenAI `chat.completion.chunk`
// events over Server-Sent Events, charged window by window before delivery
// through the session engine's meter, ended at what was delivered.
import { PaymentError, ProblemError } from '../errors/payment-error.js'
import { problemParts } from '../errors/problem.js'
import type { Receipt } from '../protocol/receipt.js'
import { formatEvent } from '../protocol/sse.js'
import type { Meter } from '../session/meter.js'
import type { ChatBackend } from './backend.js'
import { type ChatQuote, chatCost } from './pricing.js'
import type { StreamingSettings } from './streaming.js'
import { deltaCounter } from './tokens.js'
import type { ChatCompletionChunk, ChatUsage } from './types.js'

export type StreamCompletionParameters = {
  stream: NonNullable<ChatBackend['stream']>
  settings: StreamingSettings
  quote: ChatQuote
  /** The paid request's meter (`payment.meter()`), opened once the first chunk arrived. */
  meter: () => Meter
  /** The client's request: its signal ends the stream, its `Idempotency-Key` keeps the stream for retries. */
  request: Request
  requestId: string
  /** Keeps the stream's end (its final charge) running after the response ended (Workers: `waitUntil`). */
  keepAlive: (work: Promise<unknown>) => void
}

const encoder = new TextEncoder()
const done = formatEvent('[DONE]')
const receiptEvent = (receipt: Receipt) => formatEvent(JSON.stringify(receipt), 'payment-receipt')

/**
 * Starts the stream: the upstream's first chunk is awaited before anything is
 * charged (an upstream failure before it is the usual `upstream_*` answer,
 * nothing charged), then the prompt and the first window are charged and the
 * response starts. Each later chunk is delivered only once its tokens are
 * paid for: a chunk past the paid window first charges the next window (one
 * store write). A prepaid stream's windows come out of its reservation; a
 * metered one asks for a voucher (`payment-need-voucher`) when the channel
 * cannot cover the next window and waits for it. The stream ends with the
 * charge made exactly what was delivered (the upstream's usage when it
 * reports one), then `data: [DONE]` and `event: payment-receipt`.
 */
export async function streamCompletion(parameters: StreamCompletionParameters): Promise<Response> {
  const { settings, quote, request, requestId } = parameters
  const { model, promptTokens, limit, stream: mode } = quote.chat
  const includeUsage = quote.chat.request.stream_options?.include_usage === true
  const keep = request.headers.has('Idempotency-Key')
  const count = await deltaCounter(model.encoding)
  const upstream = new AbortController()
  const onClientAbort = () => upstream.abort()
  request.signal.addEventListener('abort', onClientAbort, { once: true })
  const chunks = parameters.stream(quote.chat.request, { signal: upstream.signal })[Symbol.asyncIterator]()

  let pending: IteratorResult<ChatCompletionChunk> | undefined
  try {
    pending = await chunks.next()
  } catch (error) {
    request.signal.removeEventListener('abort', onClientAbort)
    throw error
  }

  const meter = parameters.meter()
  const promptCost = BigInt(promptTokens) * model.inputTokenPrice
  // Completion tokens paid for, and delivered.
  let paid = 0
  let delivered = 0
  let usage: ChatUsage | undefined
  let transcript = ''
  let ended: Promise<unknown> | undefined
  // The client went away: nothing more can be written.
  let cancelled = false
  // Settles once the stream's end is written (or failed): what the runtime must wait for.
  let closed!: () => void
  // The next window: the window size, or what is left of the completion limit when that is less.
  const nextWindow = (atLeast: number) => {
    const left = limit - paid
    const window = left > 0 && left < settings.windowTokens ? left : settings.windowTokens
    return window > atLeast ? window : atLeast
  }

  const first = nextWindow(0)
  // The reservation covers the first window; failing that (a store error, a channel closed meanwhile) nothing is
  // delivered: the upstream is dropped and the payment layer releases the request.
  try {
    const opened = await meter.charge(promptCost + BigInt(first) * model.outputTokenPrice)
    if (!opened.charged) {
      throw new PaymentError('mpp_reservation_failed', 'The stream could not be charged; nothing was charged. Retry shortly.', {
        retryAfter: 1,
      })
    }
  } catch (error) {
    upstream.abort()
    request.signal.removeEventListener('abort', onClientAbort)
    throw error
  }
  paid = first

  const deliveredCost = () =>
    chatCost(model, { prompt_tokens: promptTokens, completion_tokens: delivered, total_tokens: promptTokens + delivered })

  function emit(controller: ReadableStreamDefaultController<Uint8Array>, text: string) {
    if (cancelled) return
    controller.enqueue(encoder.encode(text))
    if (keep) transcript += text
  }

  /** Ends the stream without a complete answer: the upstream stopped, what was delivered charged. */
  function stop(): Promise<unknown> {
    ended ??= (async () => {
      upstream.abort()
      request.signal.removeEventListener('abort', onClientAbort)
      return meter.end(deliveredCost())
    })()
    return ended
  }

  async function fail(controller: ReadableStreamDefaultController<Uint8Array>, error: unknown) {
    const problem = error instanceof ProblemError ? error : PaymentError.internal(error)
    let receipt: Receipt | undefined
    try {
      await stop()
      receipt = meter.receipt
    } catch {
      // The end could not be written: the windows stay charged (at most one window beyond what was delivered).
    }
    const { code, spec, detail, extensions } = problem
    emit(controller, formatEvent(problemParts({ code, spec, detail, extensions }, { requestId }).body, 'error'))
    if (receipt !== undefined) emit(controller, receiptEvent(receipt))
    if (!cancelled) controller.close()
    closed()
  }

  async function finish(controller: ReadableStreamDefaultController<Uint8Array>) {
    request.signal.removeEventListener('abort', onClientAbort)
    const cost = usage === undefined ? deliveredCost() : chatCost(model, usage)
    const stored = keep
      ? (receipt: Receipt) => ({ contentType: 'text/event-stream', body: transcript + done + receiptEvent(receipt) })
      : undefined
    ended = meter.end(cost, stored)
    let receipt: Receipt
    try {
      receipt = ((await ended) as { receipt: Receipt }).receipt
    } catch (error) {
      return fail(controller, error)
    }
    emit(controller, done)
    emit(controller, receiptEvent(receipt))
    if (!cancelled) controller.close()
    closed()
  }

  /** Pays for `tokens` more than delivered: the next window(s) in one charge, a voucher asked for when the channel is short. */
  async function cover(controller: ReadableStreamDefaultController<Uint8Array>, tokens: number): Promise<boolean> {
    for (;;) {
      const window = nextWindow(delivered + tokens - paid)
      const charge = await meter.charge(BigInt(window) * model.outputTokenPrice)
      if (charge.charged) {
        paid += window
        return true
      }
      const { need } = charge
      const numbers = {
        channelId: need.channelId,
        requiredCumulative: need.requiredCumulative,
        acceptedCumulative: need.acceptedCumulative,
        deposit: need.deposit,
      }
      if (mode === 'metered') {
        const event = Object.fromEntries(Object.entries(numbers).map(([key, value]) => [key, value.toString()]))
        emit(controller, formatEvent(JSON.stringify(event), 'payment-need-voucher'))
        const { voucherTimeoutMs: timeoutMs, pollMs } = settings
        if (await meter.waitForVoucher(need, { timeoutMs, pollMs, signal: upstream.signal })) continue
      }
      const waited = mode === 'metered' ? ` No voucher arrived within ${settings.voucherTimeoutMs / 1000} s.` : ''
      await fail(
        controller,
        new PaymentError(
          'mpp_voucher_bucket_refresh_required',
          `The channel does not cover the rest of this stream.${waited} What was delivered is charged; sign a voucher for at least ${need.requiredCumulative} and ask again.`,
          { extensions: numbers },
        ),
      )
      return false
    }
  }

  async function step(controller: ReadableStreamDefaultController<Uint8Array>) {
    for (;;) {
      if (ended !== undefined) return
      let next = pending
      pending = undefined
      if (next === undefined) {
        try {
          next = await chunks.next()
        } catch (error) {
          return fail(controller, error)
        }
      }
      if (next.done) return finish(controller)
      const chunk = next.value
      if (chunk.usage) usage = chunk.usage
      // The usage chunk goes to a client that asked for it (`stream_options.include_usage`) only.
      if (chunk.choices.length === 0 && !includeUsage) continue
      const tokens = chunkTokens(chunk, count)
      if (delivered + tokens > paid && !(await cover(controller, tokens))) return
      if (ended !== undefined) return
      emit(controller, formatEvent(JSON.stringify(includeUsage || !('usage' in chunk) ? chunk : withoutUsage(chunk))))
      delivered += tokens
      return
    }
  }

  parameters.keepAlive(new Promise<void>((resolve) => (closed = resolve)))
  const body = new ReadableStream<Uint8Array>(
    {
      // A failed charge (a store error, a channel closed meanwhile) ends the stream like an upstream failure.
      pull: (controller) => step(controller).catch((error: unknown) => fail(controller, error)),
      // The client went away: the upstream is aborted and what was delivered is charged, after the response if need be.
      async cancel() {
        cancelled = true
        try {
          await stop()
        } catch {
          // Not written: the windows stay charged (at most one beyond what was delivered) and the reservation expires.
        } finally {
          closed()
        }
      },
    },
    { highWaterMark: 0 },
  )
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' } })
}

function withoutUsage(chunk: ChatCompletionChunk): ChatCompletionChunk {
  const { usage: _usage, ...plain } = chunk
  return plain
}

/** The completion tokens a chunk carries: its text (and tool-call arguments) counted as the model's encoding counts. */
function chunkTokens(chunk: ChatCompletionChunk, count: (text: string) => number): number {
  let tokens = 0
  for (const choice of chunk.choices) {
    const { content, refusal, tool_calls: toolCalls } = choice.delta as { content?: unknown; refusal?: unknown; tool_calls?: unknown }
    if (typeof content === 'string' && content !== '') tokens += count(content)
    if (typeof refusal === 'string' && refusal !== '') tokens += count(refusal)
    if (toolCalls !== undefined && toolCalls !== null) tokens += count(JSON.stringify(toolCalls))
  }
  return tokens
}
