import { z } from 'zod'

/**
 * The subset of OpenAI's chat-completions wire format the paid route accepts
 * and the backends answer with. Objects are loose: fields we do not model
 * (`tools`, `seed`, `response_format`, `system_fingerprint`, …) pass through
 * untouched, so a newer client or upstream is not broken by this schema.
 */

export const chatRoles = ['system', 'user', 'assistant', 'tool', 'developer'] as const
export type ChatRole = (typeof chatRoles)[number]

const textPart = z.looseObject({ type: z.literal('text'), text: z.string() })

const chatMessageSchema = z.looseObject({
  role: z.enum(chatRoles),
  content: z.union([z.string(), z.array(textPart)]),
  name: z.string().optional(),
})

// `z.int()` is a safe integer. Zero is allowed on purpose: a zero token limit
// is a quote problem (`mpp_request_quote_invalid`), which the route reports.
const tokenLimit = z.int().min(0)

export const chatCompletionRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(chatMessageSchema).min(1),
  max_tokens: tokenLimit.optional(),
  max_completion_tokens: tokenLimit.optional(),
  stream: z.boolean().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().min(0).max(1).optional(),
  stop: z.union([z.string(), z.array(z.string())]).optional(),
  user: z.string().optional(),
})

export type ChatMessage = z.output<typeof chatMessageSchema>
export type ChatCompletionRequest = z.output<typeof chatCompletionRequestSchema>

const count = z.int().min(0)

export const chatCompletionSchema = z.looseObject({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: count,
  model: z.string(),
  choices: z.array(
    z.looseObject({
      index: count,
      // `null` content is what OpenAI sends for tool calls and refusals.
      message: z.looseObject({ role: z.literal('assistant'), content: z.string().nullable() }),
      finish_reason: z.string(),
    }),
  ),
  // Required: without usage nothing can be charged.
  usage: z.looseObject({ prompt_tokens: count, completion_tokens: count, total_tokens: count }),
})

export type ChatCompletion = z.output<typeof chatCompletionSchema>

/**
 * One `chat.completion.chunk` of a stream. The last one of a stream asked with
 * `stream_options.include_usage` has no choices and the stream's `usage`.
 */
export const chatCompletionChunkSchema = z.looseObject({
  id: z.string(),
  object: z.literal('chat.completion.chunk'),
  created: count,
  model: z.string(),
  choices: z.array(
    z.looseObject({
      index: count,
      delta: z.looseObject({ content: z.string().nullable().optional() }),
      finish_reason: z.string().nullable().optional(),
    }),
  ),
  usage: z.looseObject({ prompt_tokens: count, completion_tokens: count, total_tokens: count }).nullable().optional(),
})

export type ChatCompletionChunk = z.output<typeof chatCompletionChunkSchema>
export type ChatUsage = ChatCompletion['usage']

/** The text of a message: its string content, or its text parts joined. */
export function messageText(message: Pick<ChatMessage, 'content'>): string {
  return typeof message.content === 'string' ? message.content : message.content.map((part) => part.text).join('')
}

/**
 * The completion-token bound a quote must cover. When a request sets both
 * `max_tokens` and `max_completion_tokens`, upstreams differ in which one they
 * honour, so the quote takes the larger. `undefined` when neither is set.
 */
export function completionTokenLimit(request: Pick<ChatCompletionRequest, 'max_tokens' | 'max_completion_tokens'>): number | undefined {
  const { max_tokens: legacy, max_completion_tokens: current } = request
  if (legacy === undefined) return current
  if (current === undefined) return legacy
  return Math.max(legacy, current)
}
