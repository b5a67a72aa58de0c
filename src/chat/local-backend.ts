import { hash32 } from '../protocol/hash.js'
import type { ChatBackend } from './backend.js'
import { defaultCatalogue, type ModelPrice } from './catalogue.js'
import { promptTokens, type TextCounter, textCounter } from './tokens.js'
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from './types.js'
import { messageText } from './types.js'
import { UpstreamError } from './upstream-error.js'

export type LocalBackendOptions = {
  /** Clock for `created` (ms). Default `Date.now`. */
  now?: () => number
  /** The route's catalogue: usage is counted with each model's encoding, as the route quotes it. Default `defaultCatalogue`. */
  catalogue?: readonly ModelPrice[]
  /** Words in every reply (before the token limit cuts it), for long streams in benchmarks. Default: 6 to 21, by the message. */
  replyWords?: number
}

/**
 * The built-in offline backend, the default when no upstream is configured:
 * no model and no network. It answers a short fixed-vocabulary reply that is a
 * pure function of the last user message, so runs and tests are reproducible.
 *
 * Its `usage` is computed with the same rules the route quotes with, for the
 * model's encoding: `prompt_tokens` is `promptTokens(request, encoding)` and
 * `completion_tokens` counts exactly the returned text, cut to the request's
 * token limit. Usage therefore never exceeds the quote.
 */
export function localBackend(options: LocalBackendOptions = {}): ChatBackend {
  const now = options.now ?? Date.now
  const encodings = new Map((options.catalogue ?? defaultCatalogue).map((model) => [model.id, model.encoding]))

  async function answer(request: ChatCompletionRequest) {
    const encoding = encodings.get(request.model)
    const count = await textCounter(encoding)
    const seed = hash32(lastUserText(request))
    const words = replyWords(seed, options.replyWords)
    const { content, truncated } = fitToLimit(words, strictestLimit(request), count)
    const prompt = await promptTokens(request, encoding)
    const completionTokens = count(content)
    return {
      id: `chatcmpl-local-${seed.toString(16).padStart(8, '0')}`,
      created: Math.floor(now() / 1000),
      content,
      finishReason: truncated ? 'length' : 'stop',
      usage: { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens },
    }
  }

  return {
    async complete(request, { signal } = {}) {
      if (signal?.aborted) throw UpstreamError.aborted()
      const { id, created, content, finishReason, usage } = await answer(request)
      const completion: ChatCompletion = {
        id,
        object: 'chat.completion',
        created,
        model: request.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finishReason }],
        usage,
      }
      return completion
    },

    // The same reply, one word a chunk (a word with its leading space is one pre-token of the BPE
    // encodings, so the chunks' token counts add up to the reply's), then the usage chunk.
    async *stream(request, { signal } = {}) {
      if (signal?.aborted) throw UpstreamError.aborted()
      const { id, created, content, finishReason, usage } = await answer(request)
      const chunk = (delta: ChatCompletionChunk['choices'][number]['delta'], finish: string | null = null): ChatCompletionChunk => ({
        id,
        object: 'chat.completion.chunk',
        created,
        model: request.model,
        choices: [{ index: 0, delta, finish_reason: finish }],
      })
      yield chunk({ role: 'assistant', content: '' })
      for (const piece of content.match(/ ?[^ .]+|\./g) ?? []) {
        if (signal?.aborted) throw UpstreamError.aborted()
        yield chunk({ content: piece })
      }
      yield chunk({}, finishReason)
      yield { id, object: 'chat.completion.chunk', created, model: request.model, choices: [], usage }
    },
  }
}

/** The last user message, or the whole conversation when there is none. */
function lastUserText(request: ChatCompletionRequest): string {
  const user = request.messages.findLast((message) => message.role === 'user')
  return user === undefined ? request.messages.map(messageText).join('\n') : messageText(user)
}

/**
 * Both limits are limits: an answer must respect each that is set. (The quote
 * covers the larger one; see `completionTokenLimit`.)
 */
function strictestLimit(request: ChatCompletionRequest): number | undefined {
  const limits = [request.max_tokens, request.max_completion_tokens].filter((limit) => limit !== undefined)
  return limits.length === 0 ? undefined : Math.min(...limits)
}

const vocabulary = [
  'offline',
  'reply',
  'local',
  'backend',
  'session',
  'voucher',
  'channel',
  'payment',
  'token',
  'usage',
  'quote',
  'gateway',
  'request',
  'answer',
  'simple',
  'steady',
  'quiet',
  'clear',
  'small',
  'bright',
  'calm',
  'green',
  'river',
  'stone',
  'light',
  'paper',
  'window',
  'garden',
  'morning',
  'signal',
  'bridge',
  'harbor',
] as const

/** 6 to 21 words (or `length`) chosen by a small PRNG seeded with the message hash. */
function replyWords(seed: number, fixed: number | undefined): string[] {
  const next = xorshift32(seed)
  const length = fixed ?? 6 + (next() % 16)
  return Array.from({ length }, () => vocabulary[next() % vocabulary.length]!)
}

/** The full sentence if it fits the limit, else the longest word prefix that does. */
function fitToLimit(words: string[], limit: number | undefined, count: TextCounter): { content: string; truncated: boolean } {
  const sentence = (wordCount: number) => {
    const text = words.slice(0, wordCount).join(' ')
    return text.charAt(0).toUpperCase() + text.slice(1)
  }
  const full = `${sentence(words.length)}.`
  if (limit === undefined || count(full) <= limit) return { content: full, truncated: false }
  // Each added word starts with a space, so it adds its own pieces and the count
  // only grows: the first prefix over the limit ends the search.
  let fitting = 0
  while (fitting < words.length && count(sentence(fitting + 1)) <= limit) fitting += 1
  return { content: sentence(fitting), truncated: true }
}

function xorshift32(seed: number): () => number {
  let state = seed || 0x9e3779b9 // xorshift never leaves zero
  return () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return state >>> 0
  }
}
