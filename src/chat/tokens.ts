import type { TokenEncoding } from './catalogue.js'
import type { ChatCompletionRequest, ChatMessage } from './types.js'

/**
 * Prompt token counts for quoting. The charge is capped at the quote, so the
 * count must never fall below what the upstream bills; above it, it only
 * reserves more of the voucher than is finally charged.
 *
 * With the model's encoding known, the prompt is counted as OpenAI counts it:
 * the model's tokenizer (gpt-tokenizer, a JavaScript port of tiktoken) on each
 * role, content and name, plus OpenAI's published chat framing. Without an
 * encoding, and for prompts too large to tokenize cheaply, text the port may
 * split otherwise than tiktoken (`exactCodePoints`) and JSON-rendered fields,
 * the count is bounded by UTF-8 bytes:
 *
 * 1. A byte-level BPE tokenizer (tiktoken's o200k/cl100k and every GPT-2-style
 *    one) turns a text into tokens that each stand for a non-empty byte string
 *    and that together spell exactly the text's UTF-8 bytes. So a text of n
 *    bytes is at most n tokens. Special tokens come only from the framing:
 *    text that looks like one (`<|endoftext|>`) is encoded as plain text.
 * 2. JSON parsing can deliver lone surrogates; encoders replace each with
 *    U+FFFD, three bytes, and `utf8Length` counts three.
 * 3. The framing adds at most 4 tokens a message (3 for current models, 4 for
 *    the first ChatML models), 1 for a name, 3 priming the reply.
 * Hence bytes + that framing is at least the true count of every such encoding.
 */

/** OpenAI's chat framing: `<|im_start|>role<|im_sep|>content<|im_end|>` a message, `<|im_start|>assistant<|im_sep|>` priming the reply. */
const tokensPerMessage = 3
const tokensPerName = 1
const replyPriming = 3
/** The framing of gpt-3.5-turbo-0301, the largest OpenAI has published; the byte bound uses it. */
const boundTokensPerMessage = 4

/**
 * Prompts whose byte bound is above this are quoted by the bound, untokenized.
 * Every unpaid request is quoted, and text made to miss the vocabulary costs
 * the tokenizer 0.5–1 µs a byte, a single run of letters more (BPE merging is
 * quadratic in a piece's length): 7–25 ms at this limit, 30–60 ms at 8 KiB, on
 * a shared 2-core machine (test/chat/tokens.bench.ts). Above it the bound
 * overshoots, about 4× for English, which reserves more of the voucher but
 * charges no more.
 */
export const exactCountLimit = 4 * 1024

/** Counts one text's tokens. */
export type TextCounter = (text: string) => number

/**
 * Request fields that never reach the model's context. Every other field
 * (`tools`, `functions`, `response_format`, fields we do not know yet) is
 * counted by the UTF-8 bytes of its JSON, because upstreams render such fields
 * into the prompt and bill them as prompt tokens. Bytes, not the tokenizer's
 * count of the JSON: OpenAI does not publish how it renders tools, and that can
 * cost more than the JSON's tokens. Its cookbook's recipe, fitted to the API,
 * charges 3 tokens an enum item plus the item's tokens where the JSON has about
 * 2 (a 1,000-item enum: 5,027 against 3,035), and 7 a function and 12 for all,
 * which the JSON's bytes cover (an item's quotes and comma alone are 3 bytes).
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

/**
 * The most prompt tokens the upstream can bill for `request`: the exact count
 * with `encoding`'s tokenizer when given and the prompt is small enough,
 * otherwise the byte bound.
 */
export async function promptTokens(request: ChatCompletionRequest, encoding: TokenEncoding | undefined): Promise<number> {
  const bound = countPrompt(request, utf8Length, boundTokensPerMessage)
  if (encoding === undefined || bound > exactCountLimit) return bound
  return countPrompt(request, await tokenCounter(encoding), tokensPerMessage)
}

/** The counter for a text the upstream tokenizes on its own (a completion): exact with `encoding`, else the byte bound. */
export async function textCounter(encoding: TokenEncoding | undefined): Promise<TextCounter> {
  return encoding === undefined ? utf8Length : tokenCounter(encoding)
}

// Stream deltas are a token or a word and repeat a lot: their counts are kept, up to this many texts per encoding.
const deltaMemoSize = 8_192
const deltaCounters = new Map<TokenEncoding | undefined, Promise<TextCounter>>()

/**
 * `textCounter` for the deltas of a stream: the same counts, remembered per
 * text (bounded; forgotten all at once when full), since a stream's deltas
 * repeat and tokenizing each costs more than the rest of delivering it.
 */
export function deltaCounter(encoding: TokenEncoding | undefined): Promise<TextCounter> {
  let counter = deltaCounters.get(encoding)
  if (counter === undefined) {
    counter = textCounter(encoding).then((count) => {
      const memo = new Map<string, number>()
      return (text: string) => {
        let tokens = memo.get(text)
        if (tokens === undefined) {
          tokens = count(text)
          if (memo.size >= deltaMemoSize) memo.clear()
          memo.set(text, tokens)
        }
        return tokens
      }
    })
    deltaCounters.set(encoding, counter)
  }
  return counter
}

function countPrompt(request: ChatCompletionRequest, count: TextCounter, perMessage: number): number {
  let tokens = replyPriming
  for (const message of request.messages) tokens += perMessage + messageTokens(message, count)
  for (const [key, value] of Object.entries(request)) {
    if (!nonPromptFields.has(key)) tokens += jsonBytes(value)
  }
  return tokens
}

function messageTokens(message: ChatMessage, count: TextCounter): number {
  let tokens = count(message.role) + contentTokens(message.content, count)
  if (message.name !== undefined) tokens += tokensPerName + count(message.name)
  // `tool_calls`, `tool_call_id` and other extras are rendered into the context too.
  for (const [key, value] of Object.entries(message)) {
    if (!messageFields.has(key)) tokens += jsonBytes(value)
  }
  return tokens
}

/**
 * Upstreams render text parts either joined or one by one, and BPE counts are
 * not additive (a word split across two parts costs two tokens; two parts
 * joined can merge differently), so parts cost the larger of both counts.
 */
function contentTokens(content: ChatMessage['content'], count: TextCounter): number {
  if (typeof content === 'string') return count(content)
  let separately = 0
  for (const part of content) separately += count(part.text)
  return Math.max(separately, count(content.map((part) => part.text).join('')))
}

function jsonBytes(value: unknown): number {
  return value === undefined ? 0 : utf8Length(JSON.stringify(value) ?? '')
}

/** UTF-8 bytes of `text` as an encoder writes it, a lone surrogate as U+FFFD (three bytes). */
export function utf8Length(text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit < 0x80) bytes += 1
    else if (unit < 0x800) bytes += 2
    else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4
      i += 1
    } else bytes += 3
  }
  return bytes
}

const isLowSurrogate = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff

type Tokenizer = {
  countTokens(text: string, options: { disallowedSpecial: Set<string> }): number
  setMergeCacheSize(size: number): void
}

// Imported on first use: each encoding's ranks are megabytes of JavaScript to
// parse and tens of megabytes of maps to build, paid only if a model names it.
const tokenizers: Record<TokenEncoding, () => Promise<Tokenizer>> = {
  o200k_base: () => import('gpt-tokenizer/encoding/o200k_base'),
  cl100k_base: () => import('gpt-tokenizer/encoding/cl100k_base'),
}

const counters = new Map<TokenEncoding, Promise<TextCounter>>()

/** Special-token look-alikes in user text are plain text, as upstreams encode them. */
const asPlainText = { disallowedSpecial: new Set<string>() }

/**
 * Code points on which the port splits text as tiktoken does, whatever either
 * side's Unicode version. The pre-split sorts characters into letters (upper
 * and lower), marks, numbers, whitespace and the rest, and two things move a
 * character between these classes: Unicode assigning it (an unassigned code
 * point is in "the rest"; U+323B0, assigned in Unicode 17, is a letter to
 * Node 20 and "the rest" to tiktoken, which then counts 6 tokens for
 * `\u{323B0}'s` where the port counts 5) and `\s`, which in JavaScript omits
 * U+0085 and includes U+FEFF, and in Rust does the opposite. So these are
 * ranges fully assigned by Unicode 14.0 (every tiktoken build since 2022 has
 * at least that), without U+0085 and U+FEFF, plus blocks in which Unicode
 * assigns only symbols, which are "the rest" like an unassigned code point.
 * Text with any other code point is counted by its bytes.
 */
export const exactCodePoints: readonly (readonly [number, number])[] = [
  [0x0000, 0x0084], // Basic Latin, Latin-1 Supplement without U+0085, …
  [0x0086, 0x0377], // … Latin Extended-A and -B, IPA, modifiers, combining marks, Greek
  [0x037a, 0x037f],
  [0x0384, 0x038a],
  [0x038c, 0x038c],
  [0x038e, 0x03a1],
  [0x03a3, 0x052f], // Greek, Cyrillic, Cyrillic Supplement
  [0x0591, 0x05c7], // Hebrew
  [0x05d0, 0x05ea],
  [0x0600, 0x06ff], // Arabic
  [0x0750, 0x077f], // Arabic Supplement
  [0x0900, 0x097f], // Devanagari
  [0x0e01, 0x0e3a], // Thai
  [0x0e3f, 0x0e5b],
  [0x1100, 0x11ff], // Hangul Jamo
  [0x1e00, 0x1eff], // Latin Extended Additional
  [0x2000, 0x2064], // General Punctuation
  [0x2066, 0x2071], // … and superscripts
  [0x2074, 0x208e],
  [0x2090, 0x209c],
  [0x20a0, 0x20c0], // Currency Symbols
  [0x20d0, 0x20f0], // Combining Marks for Symbols
  [0x2100, 0x218b], // Letterlike Symbols, Number Forms
  [0x2190, 0x2426], // Arrows, Mathematical Operators, Miscellaneous Technical, Control Pictures
  [0x2440, 0x244a], // Optical Character Recognition
  [0x2460, 0x27ff], // Enclosed Alphanumerics … Supplemental Arrows-A
  [0x3000, 0x303f], // CJK Symbols and Punctuation
  [0x3041, 0x3096], // Hiragana
  [0x3099, 0x30ff], // Katakana
  [0x3131, 0x318e], // Hangul Compatibility Jamo
  [0x3400, 0x9fff], // CJK Extension A, Yijing Hexagrams, CJK Unified Ideographs
  [0xac00, 0xd7a3], // Hangul Syllables
  [0xd800, 0xdfff], // lone surrogates, encoded as U+FFFD
  [0xe000, 0xf8ff], // Private Use Area
  [0xfe00, 0xfe0f], // Variation Selectors
  [0xff01, 0xffbe], // Halfwidth and Fullwidth Forms
  [0xfffd, 0xfffd], // Replacement Character
  [0x1f1e6, 0x1f1ff], // Regional indicators (flags)
  [0x1f300, 0x1f64f], // Miscellaneous Symbols and Pictographs, Emoticons
  [0x1f680, 0x1f6ff], // Transport and Map Symbols (symbols only)
  [0x1f900, 0x1f9ff], // Supplemental Symbols and Pictographs
  [0x1fa70, 0x1faff], // Symbols and Pictographs Extended-A (symbols only)
  [0x20000, 0x2a6df], // CJK Extension B
  [0xf0000, 0x10ffff], // Supplementary Private Use Areas
]

const exactlyCountable = new RegExp(
  `^[${exactCodePoints.map(([first, last]) => `\\u{${first.toString(16)}}-\\u{${last.toString(16)}}`).join('')}]*$`,
  'u',
)

function tokenCounter(encoding: TokenEncoding): Promise<TextCounter> {
  let counter = counters.get(encoding)
  if (counter === undefined) {
    counter = tokenizers[encoding]().then((tokenizer) => {
      // The merge cache would keep every distinct piece quoted, unbounded in
      // size per entry; attackers choose the pieces. Counting runs without it.
      tokenizer.setMergeCacheSize(0)
      return (text: string) => (exactlyCountable.test(text) ? tokenizer.countTokens(text, asPlainText) : utf8Length(text))
    })
    counters.set(encoding, counter)
  }
  return counter
}
