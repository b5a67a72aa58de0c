import { z } from 'zod'
import { parseConfig } from '../errors/config-error.js'
import { parseRetryAfter } from '../protocol/retry-after.js'
import { readEvents } from '../protocol/sse.js'
import { callable, httpUrl, integer } from '../util/config.js'
import type { ChatBackend } from './backend.js'
import { type ChatCompletion, type ChatCompletionChunk, chatCompletionChunkSchema, chatCompletionSchema } from './types.js'
import { UpstreamError } from './upstream-error.js'

const optionsSchema = z.object({
  baseUrl: httpUrl,
  apiKey: z.string().min(1, 'must be a non-empty key').optional(),
  timeoutMs: integer(1).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  fetch: callable<typeof fetch>().optional(),
})

export type OpenAiUpstreamOptions = {
  /** Base URL of any OpenAI-compatible API, e.g. `https://api.openai.com/v1`; `/chat/completions` is appended. */
  baseUrl: string
  /** Sent as `Authorization: Bearer …` when set. */
  apiKey?: string
  /** The whole exchange, until the body is read; for a stream, until its headers and between two of its chunks. Default 60 000. */
  timeoutMs?: number
  /** Extra static headers (organization, routing). */
  headers?: Record<string, string>
  fetch?: typeof fetch
}

/**
 * A {@link ChatBackend} over any OpenAI-compatible `POST {baseUrl}/chat/completions`.
 * A stream is asked with `stream_options.include_usage`, so its last chunk
 * carries the usage the route charges. Logs nothing.
 */
export function openAiUpstream(options: OpenAiUpstreamOptions): ChatBackend {
  // Validated once, so a bad base URL fails at startup rather than as an "unavailable" upstream.
  parseConfig(optionsSchema, options, 'openAiUpstream')
  const endpoint = new URL(`${options.baseUrl.replace(/\/+$/, '')}/chat/completions`)
  const timeoutMs = options.timeoutMs ?? 60_000
  const fetcher = options.fetch ?? globalThis.fetch
  const headers: Record<string, string> = { ...options.headers, 'Content-Type': 'application/json', Accept: 'application/json' }
  if (options.apiKey !== undefined) headers.Authorization = `Bearer ${options.apiKey}`

  return {
    async complete(request, { signal } = {}) {
      if (signal?.aborted) throw UpstreamError.aborted()
      // The port answers one complete body, so streaming is switched off whatever the client asked.
      const { stream: _stream, stream_options: _streamOptions, ...rest } = request
      const body = JSON.stringify({ ...rest, stream: false })

      const call = upstreamCall(signal, timeoutMs)
      try {
        let response: Response
        let text: string
        try {
          // Redirects are not followed: they would carry the key to wherever the upstream points.
          response = await fetcher(endpoint, { method: 'POST', headers, body, signal: call.signal, redirect: 'manual' })
          text = await response.text()
        } catch (cause) {
          throw call.failed(cause)
        }
        if (!response.ok) throw statusError(response.status, response.headers.get('Retry-After'), text)
        return parseCompletion(text)
      } finally {
        call.end()
      }
    },

    async *stream(request, { signal } = {}) {
      if (signal?.aborted) throw UpstreamError.aborted()
      const { stream: _stream, stream_options: _streamOptions, ...rest } = request
      const body = JSON.stringify({ ...rest, stream: true, stream_options: { include_usage: true } })
      const call = upstreamCall(signal, timeoutMs)
      const { failed } = call
      try {
        let response: Response
        try {
          response = await fetcher(endpoint, {
            method: 'POST',
            headers: { ...headers, Accept: 'text/event-stream' },
            body,
            signal: call.signal,
            redirect: 'manual',
          })
        } catch (cause) {
          throw failed(cause)
        }
        if (!response.ok || response.body === null) {
          let text = ''
          try {
            text = await response.text()
          } catch (cause) {
            throw failed(cause)
          }
          throw statusError(response.status, response.headers.get('Retry-After'), text)
        }
        const events = readEvents(response.body)
        for (;;) {
          let next: IteratorResult<{ data: string }>
          try {
            next = await events.next()
          } catch (cause) {
            throw failed(cause)
          }
          // A stream that ends without `[DONE]` was cut: what arrived is kept, the route charges it.
          if (next.done) throw unavailableError(undefined)
          if (next.value.data === '[DONE]') return
          // An idle timeout: restarted by every chunk, so a long stream is not cut while it flows.
          call.restart()
          yield parseChunk(next.value.data)
        }
      } finally {
        call.end()
      }
    },
  }
}

/**
 * One upstream request's abort signal: the caller's abort and a timeout of `timeoutMs` (restartable) both end it;
 * `failed` names which one a fetch or read rejection came from. `end` releases the timer and the listener, and
 * aborts what is still open.
 */
function upstreamCall(signal: AbortSignal | undefined, timeoutMs: number) {
  const controller = new AbortController()
  let timedOut = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const restart = () => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, timeoutMs)
  }
  const forwardAbort = () => controller.abort()
  signal?.addEventListener('abort', forwardAbort, { once: true })
  restart()
  return {
    signal: controller.signal,
    restart,
    // Either abort surfaces as the same rejection; which one fired decides the code.
    failed: (cause: unknown) => (signal?.aborted ? UpstreamError.aborted() : timedOut ? timeoutError(timeoutMs) : unavailableError(cause)),
    end() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', forwardAbort)
      controller.abort()
    },
  }
}

/** The JSON value of `text`, or undefined when it is not JSON (the schema then refuses it). */
function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function parseChunk(data: string): ChatCompletionChunk {
  const json = jsonOrUndefined(data)
  const result = chatCompletionChunkSchema.safeParse(json)
  if (result.success) return result.data
  const code = (json as { error?: { code?: unknown } } | undefined)?.error?.code
  const hint = typeof code === 'string' && /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(code) ? ` (upstream code ${code})` : ''
  throw new UpstreamError({
    code: 'upstream_invalid_response',
    status: 502,
    retryable: true,
    detail: `The upstream inference service sent an error or an invalid chunk in its stream${hint}.`,
  })
}

function unavailableError(cause: unknown): UpstreamError {
  return new UpstreamError({
    code: 'upstream_unavailable',
    status: 502,
    retryable: true,
    cause,
    detail: 'The upstream inference service could not be reached. Nothing was charged; retry with backoff.',
  })
}

function timeoutError(timeoutMs: number): UpstreamError {
  return new UpstreamError({
    code: 'upstream_timeout',
    status: 504,
    retryable: true,
    detail: `The upstream inference service did not answer within ${timeoutMs / 1000} s. Nothing was charged; retry, or ask for fewer tokens.`,
  })
}

function statusError(upstreamStatus: number, retryAfterHeader: string | null, body: string): UpstreamError {
  if (upstreamStatus === 429) {
    const retryAfter = parseRetryAfter(retryAfterHeader) ?? 1
    return new UpstreamError({
      code: 'upstream_rate_limited',
      status: 429,
      retryable: true,
      retryAfter,
      upstreamStatus,
      detail: `The upstream inference service is rate limiting requests. Nothing was charged; retry after ${retryAfter} s.`,
    })
  }
  const code = `upstream_${upstreamStatus}` as const
  const upstreamCode = identifierErrorCode(body)
  const hint = upstreamCode === undefined ? '' : ` (upstream code ${upstreamCode})`
  if (upstreamStatus >= 500) {
    return new UpstreamError({
      code,
      status: 502,
      retryable: true,
      upstreamStatus,
      upstreamCode,
      detail: `The upstream inference service failed with HTTP ${upstreamStatus}${hint}. Nothing was charged; retry with backoff.`,
    })
  }
  if (upstreamStatus >= 400) {
    return new UpstreamError({
      code,
      status: upstreamStatus,
      retryable: false,
      upstreamStatus,
      upstreamCode,
      detail: `The upstream inference service rejected the request with HTTP ${upstreamStatus}${hint}. Nothing was charged; check the model, messages and parameters.`,
    })
  }
  // 1xx/3xx: a misconfigured base URL, not something a retry of the same request fixes.
  return new UpstreamError({
    code,
    status: 502,
    retryable: false,
    upstreamStatus,
    detail: `The upstream inference service answered with unexpected HTTP ${upstreamStatus}. Nothing was charged; the operator must check its configuration.`,
  })
}

/**
 * The upstream's `error.code` when it is a plain identifier such as
 * `context_length_exceeded`: actionable for the client, and unlike the
 * `message` it cannot carry the prompt back.
 */
function identifierErrorCode(body: string): string | undefined {
  try {
    const code: unknown = JSON.parse(body)?.error?.code
    return typeof code === 'string' && /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(code) ? code : undefined
  } catch {
    return undefined
  }
}

function parseCompletion(text: string): ChatCompletion {
  // No cause is kept: parser messages quote the body, which may echo the prompt.
  const json = jsonOrUndefined(text)
  const result = chatCompletionSchema.safeParse(json)
  if (!result.success) {
    throw new UpstreamError({
      code: 'upstream_invalid_response',
      status: 502,
      retryable: true,
      detail: 'The upstream inference service answered without a valid completion and token usage. Nothing was charged; retry.',
    })
  }
  return result.data
}
