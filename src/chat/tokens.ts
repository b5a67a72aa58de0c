import type { ChatCompletionRequest, ChatMessage } from './types.js'

/**
 * Token counts for quoting, without a tokenizer dependency. The quote is the
 * most a request may cost, so the count must not fall below what a real BPE
 * tokenizer (cl100k/o200k) plausibly produces; overshooting only reserves a
 * little more of the voucher than is finally charged.
 *
 * countTokens(text) = max(ceil(utf8Bytes / 3), pieces), where
 * - English BPE averages about 4 characters a token; a third of the UTF-8
 *   bytes stays above that, and counts a CJK character (3 bytes) as a token.
 * - `pieces` follows how BPE tokenizers pre-split text before merging, and no
 *   token crosses such a split: each run of letters is at least one token,
 *   digits go in groups of at most three, and every other visible character
 *   (punctuation, symbols, emoji) is counted as one. This catches text that is
 *   dense in splits, such as hex strings, numbers and short words.
 * Whitespace adds bytes but no pieces.
 */
export function countTokens(text: string): number {
  if (text === '') return 0
  let pieces = 0
  for (const [, letters, digits, other] of text.matchAll(piecePattern)) {
    if (letters !== undefined) pieces += 1
    else if (digits !== undefined) pieces += Math.ceil([...digits].length / 3)
    else if (other !== undefined) pieces += 1
  }
  return Math.max(Math.ceil(utf8Length(text) / 3), pieces)
}

const piecePattern = /([\p{L}\p{M}]+)|(\p{N}+)|([^\s\p{L}\p{M}\p{N}])/gu

function utf8Length(text: string): number {
  let bytes = 0
  for (const char of text) {
    const codePoint = char.codePointAt(0)!
    // A lone surrogate is encoded as U+FFFD: three bytes, like the rest of the BMP above U+07FF.
    bytes += codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4
  }
  return bytes
}

/**
 * Chat framing, after OpenAI's published counting recipe: each message is
 * wrapped in a few special tokens (3 for current models, 4 for older ones; we
 * take 4), a `name` costs one more, and every reply is primed with 3 tokens.
 */
const tokensPerMessage = 4
const tokensPerName = 1
const replyPriming = 3

/**
 * Request fields that never reach the model's context. Every other field
 * (`tools`, `functions`, `response_format`, fields we do not know yet) is
 * counted as its JSON text, because upstreams render such fields into the
 * prompt and bill them as prompt tokens.
 */
const nonPromptFields = new Set([
  'model',
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'stream',
  'stream_options',
  'temperature',
  'top_p',
  'stop',
  'user',
  'n',
  'seed',
  'presence_penalty',
  'frequency_penalty',
  'logit_bias',
  'logprobs',
  'top_logprobs',
  'metadata',
  'store',
  'parallel_tool_calls',
  'service_tier',
  'reasoning_effort',
])

const messageFields = new Set(['role', 'content', 'name'])

/** A conservative, deterministic estimate of the prompt tokens the upstream will bill for `request`. */
export function estimatePromptTokens(request: ChatCompletionRequest): number {
  let tokens = replyPriming
  for (const message of request.messages) tokens += messageTokens(message)
  for (const [key, value] of Object.entries(request)) {
    if (!nonPromptFields.has(key)) tokens += jsonTokens(value)
  }
  return tokens
}

function messageTokens(message: ChatMessage): number {
  let tokens = tokensPerMessage + countTokens(message.role)
  // Parts are counted one by one: a word split across two parts costs two tokens.
  if (typeof message.content === 'string') tokens += countTokens(message.content)
  else for (const part of message.content) tokens += countTokens(part.text)
  if (message.name !== undefined) tokens += tokensPerName + countTokens(message.name)
  // `tool_calls`, `tool_call_id` and other extras are rendered into the context too.
  for (const [key, value] of Object.entries(message)) {
    if (!messageFields.has(key)) tokens += jsonTokens(value)
  }
  return tokens
}

function jsonTokens(value: unknown): number {
  return value === undefined ? 0 : countTokens(JSON.stringify(value) ?? '')
}
