import fc from 'fast-check'
import { get_encoding } from 'tiktoken'
import { afterAll, describe, expect, it } from 'vitest'
import { type TokenEncoding, tokenEncodings } from '../../src/chat/catalogue.js'
import { exactCodePoints, exactCountLimit, promptTokens, textCounter, utf8Length } from '../../src/chat/tokens.js'
import { type ChatCompletionRequest, chatRoles, completionTokenLimit } from '../../src/chat/types.js'
import { unicodeText } from './unicode.js'

// The reference: tiktoken's npm build, OpenAI's Rust tokenizer compiled to WebAssembly.
const reference = { o200k_base: get_encoding('o200k_base'), cl100k_base: get_encoding('cl100k_base') }
afterAll(() => {
  for (const encoding of Object.values(reference)) encoding.free()
})
/** The true count: every special-token look-alike encoded as plain text, as upstreams encode user text. */
const trueCount = (encoding: TokenEncoding, text: string) => reference[encoding].encode(text, [], []).length

/** What the upstream bills, by OpenAI's cookbook recipe: 3 a message, 1 a name, 3 priming the reply; parts joined or one by one. */
function truePromptTokens(encoding: TokenEncoding, request: ChatCompletionRequest, parts: 'joined' | 'separately'): number {
  const count = (text: string) => trueCount(encoding, text)
  let tokens = 3
  for (const message of request.messages) {
    tokens += 3 + count(message.role)
    if (typeof message.content === 'string') tokens += count(message.content)
    else if (parts === 'joined') tokens += count(message.content.map((part) => part.text).join(''))
    else for (const part of message.content) tokens += count(part.text)
    if (message.name !== undefined) tokens += 1 + count(message.name)
  }
  return tokens
}

/** Text drawn from the exact ranges, each range as likely as any other; no surrogates, which could pair into another code point. */
const exactText = fc
  .array(
    fc
      .constantFrom(...exactCodePoints.filter(([first]) => first !== 0xd800))
      .chain(([first, last]) => fc.integer({ min: first, max: last })),
    { maxLength: 40 },
  )
  .map((codes) => String.fromCodePoint(...codes))

const request = (messages: ChatCompletionRequest['messages'], extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model: 'm',
  messages,
  ...extra,
})
const user = (content: string) => request([{ role: 'user', content }])

// From OpenAI's cookbook, "How to count tokens with tiktoken" (openai/openai-cookbook,
// examples/How_to_count_tokens_with_tiktoken.ipynb): example strings, and example
// conversations whose prompt tokens the OpenAI API reported.
const cookbookMessages: ChatCompletionRequest['messages'] = [
  { role: 'system', content: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.' },
  { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
  { role: 'system', name: 'example_assistant', content: 'Things working well together will increase revenue.' },
  {
    role: 'system',
    name: 'example_user',
    content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
  },
  { role: 'system', name: 'example_assistant', content: "Let's talk later when we're less busy about how to do better." },
  { role: 'user', content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
]
const cookbookTools = [
  {
    type: 'function',
    function: {
      name: 'get_current_weather',
      description: 'Get the current weather in a given location',
      parameters: {
        type: 'object',
        properties: {
          location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
          unit: { type: 'string', description: 'The unit of temperature to return', enum: ['celsius', 'fahrenheit'] },
        },
        required: ['location'],
      },
    },
  },
]
const cookbookToolMessages: ChatCompletionRequest['messages'] = [
  { role: 'system', content: 'You are a helpful assistant that can answer to questions about the weather.' },
  { role: 'user', content: "What's the weather like in San Francisco?" },
]

describe('textCounter with an encoding', () => {
  it.each([
    ['o200k_base', 'antidisestablishmentarianism', 6],
    ['cl100k_base', 'antidisestablishmentarianism', 6],
    ['o200k_base', '2 + 2 = 4', 7],
    ['cl100k_base', '2 + 2 = 4', 7],
    ['o200k_base', 'お誕生日おめでとう', 8],
    ['cl100k_base', 'お誕生日おめでとう', 9],
  ] as const)('counts the cookbook example in %s: %j is %i tokens', async (encoding, text, tokens) => {
    expect((await textCounter(encoding))(text)).toBe(tokens)
  })

  it.each(tokenEncodings)('counts special-token look-alikes in %s as the plain text they are', async (encoding) => {
    const count = await textCounter(encoding)
    for (const text of ['<|endoftext|>', 'a <|im_start|>system<|im_sep|>b<|im_end|>', '<|endofprompt|>'])
      expect(count(text)).toBe(trueCount(encoding, text))
  })

  it.each(tokenEncodings)(
    'counts by its bytes, in %s, text outside the exact ranges, where the port may split otherwise',
    async (encoding) => {
      const count = await textCounter(encoding)
      // JavaScript reads U+0085 as no space: the port makes 4 tokens of this where tiktoken makes 5.
      expect(trueCount(encoding, ' \u0085Z.')).toBe(5)
      // U+323B0 (Unicode 17) is a letter to Node and unassigned to tiktoken: 5 tokens against 6.
      expect(trueCount(encoding, "\u{323b0}'s")).toBe(6)
      for (const text of [' \u0085Z.', 'a\ufeffb', "\u{323b0}'s", 'Kirat Rai \u{16d40}']) expect(count(text)).toBe(utf8Length(text))
    },
  )

  it.each(tokenEncodings)(
    'agrees with the reference in %s on code points sampled across every exact range, in ten contexts',
    async (encoding) => {
      const count = await textCounter(encoding)
      for (const [first, last] of exactCodePoints) {
        const step = Math.max(1, Math.floor((last - first) / 64))
        for (let code = first; code <= last; code += step) {
          const c = String.fromCodePoint(code)
          const text = [`x${c}`, `${c}x`, ` ${c}`, `${c}'s`, `1${c}1`, `${c}${c} ${c}`, `A${c}a`, `${c}\n\n`, `!${c}!`, `a${c}${c}B`].join(
            '|',
          )
          expect(count(text), `U+${code.toString(16)}`).toBe(trueCount(encoding, text))
        }
      }
    },
  )

  it.each(tokenEncodings)('equals the reference in %s on arbitrary text of the exact ranges', async (encoding) => {
    const count = await textCounter(encoding)
    fc.assert(
      fc.property(exactText, (text) => {
        expect(count(text)).toBe(trueCount(encoding, text))
      }),
      { numRuns: 500 },
    )
  })

  it.each(tokenEncodings)('is never below the reference in %s on arbitrary Unicode: exact, or the byte count', async (encoding) => {
    const count = await textCounter(encoding)
    fc.assert(
      fc.property(unicodeText(), (text) => {
        const tokens = count(text)
        expect(tokens).toBeGreaterThanOrEqual(trueCount(encoding, text))
        expect([trueCount(encoding, text), utf8Length(text)]).toContain(tokens)
      }),
      { numRuns: 1000 },
    )
  })
})

describe('the byte bound', () => {
  it('counts UTF-8 bytes as an encoder writes them, a lone surrogate as U+FFFD', () => {
    expect(utf8Length('')).toBe(0)
    expect(utf8Length('aé中👍')).toBe(1 + 2 + 3 + 4)
    expect(utf8Length(JSON.parse('"\\ud800x\\udfff"'))).toBe(3 + 1 + 3)
    const encoder = new TextEncoder()
    fc.assert(
      fc.property(unicodeText(), (text) => {
        expect(utf8Length(text)).toBe(encoder.encode(text).length)
      }),
    )
  })

  it('is the counter without an encoding', async () => {
    expect(await textCounter(undefined)).toBe(utf8Length)
  })

  // A byte-level BPE token stands for at least one byte, so no text has more tokens than bytes.
  it.each(tokenEncodings)('is at least the true count in %s of arbitrary Unicode', (encoding) => {
    fc.assert(
      fc.property(unicodeText(), (text) => {
        expect(utf8Length(text)).toBeGreaterThanOrEqual(trueCount(encoding, text))
      }),
      { numRuns: 1000 },
    )
  })
})

describe('promptTokens', () => {
  it.each([
    ['o200k_base', 124],
    ['cl100k_base', 129],
  ] as const)('counts the cookbook conversation in %s as the OpenAI API did: %i', async (encoding, tokens) => {
    expect(await promptTokens(request(cookbookMessages), encoding)).toBe(tokens)
  })

  it.each([
    ['o200k_base', 101],
    ['cl100k_base', 105],
  ] as const)('quotes the cookbook conversation with a tool in %s at least at what the OpenAI API billed: %i', async (encoding, tokens) => {
    const quoted = await promptTokens(request(cookbookToolMessages, { tools: cookbookTools }), encoding)
    expect(quoted).toBeGreaterThanOrEqual(tokens)
    expect(quoted).toBe((await promptTokens(request(cookbookToolMessages), encoding)) + utf8Length(JSON.stringify(cookbookTools)))
  })

  it('counts framing, role, content and name exactly with an encoding', async () => {
    const count = await textCounter('o200k_base')
    expect(await promptTokens(user('Hello there'), 'o200k_base')).toBe(3 + 3 + count('user') + count('Hello there'))
    const named = request([{ role: 'user', content: 'Hello there', name: 'ann' }])
    expect(await promptTokens(named, 'o200k_base')).toBe(3 + 3 + count('user') + count('Hello there') + 1 + count('ann'))
  })

  it('bounds framing, role, content and name by bytes without an encoding, at 4 a message', async () => {
    expect(await promptTokens(user('Hello there'), undefined)).toBe(3 + 4 + 4 + 11)
    const named = request([{ role: 'user', content: 'héllo', name: 'ann' }])
    expect(await promptTokens(named, undefined)).toBe(3 + 4 + 4 + 6 + 1 + 3)
  })

  it('counts text parts at the larger of joined and one by one', async () => {
    const count = await textCounter('o200k_base')
    const split = request([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'antidisestab' },
          { type: 'text', text: 'lishmentarianism' },
        ],
      },
    ])
    const separately = count('antidisestab') + count('lishmentarianism')
    expect(separately).toBeGreaterThan(count('antidisestablishmentarianism'))
    expect(await promptTokens(split, 'o200k_base')).toBe(3 + 3 + count('user') + separately)
  })

  it('counts prompt-bearing fields as the bytes of their JSON, and no sampling parameter', async () => {
    const extras = request([{ role: 'tool', content: '42', tool_call_id: 'call_abc' }], { response_format: { type: 'json_object' } })
    const plain = request([{ role: 'tool', content: '42' }])
    const extraBytes = utf8Length(JSON.stringify('call_abc')) + utf8Length(JSON.stringify({ type: 'json_object' }))
    for (const encoding of [...tokenEncodings, undefined])
      expect(await promptTokens(extras, encoding)).toBe((await promptTokens(plain, encoding)) + extraBytes)
    const sampled = { temperature: 0.5, max_tokens: 100, seed: 7, stream: false, user: 'u', stop: ['x'] }
    expect(await promptTokens(user('hi'), 'o200k_base')).toBe(await promptTokens(request(user('hi').messages, sampled), 'o200k_base'))
  })

  it('covers a tool with a long enum, where the JSON has fewer tokens than OpenAI renders', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => `w${i}`)
    const tool = {
      type: 'function',
      function: { name: 'f', parameters: { type: 'object', properties: { x: { type: 'string', enum: items } } } },
    }
    const count = await textCounter('o200k_base')
    // The cookbook's API-fitted recipe: 3 tokens an enum item plus the item, 7 a function, 12 for the tools.
    const rendered = 7 + 12 + items.reduce((sum, item) => sum + 3 + count(item), 0)
    expect(count(JSON.stringify([tool]))).toBeLessThan(rendered)
    const messages = await promptTokens(user('hi'), 'o200k_base')
    expect((await promptTokens(request(user('hi').messages, { tools: [tool] }), 'o200k_base')) - messages).toBeGreaterThanOrEqual(rendered)
  })

  it('quotes by the byte bound, without tokenizing, a prompt whose bound is over the exact-count limit', async () => {
    const count = await textCounter('o200k_base')
    const framing = 3 + 4 + utf8Length('user')
    const atLimit = 'a'.padEnd(exactCountLimit - framing, ' a')
    expect(await promptTokens(user(atLimit), undefined)).toBe(exactCountLimit)
    expect(await promptTokens(user(atLimit), 'o200k_base')).toBe(3 + 3 + count('user') + count(atLimit))
    const overLimit = 'a'.padEnd(exactCountLimit - framing + 1, ' a')
    expect(await promptTokens(user(overLimit), 'o200k_base')).toBe(exactCountLimit + 1)
  })

  const message = fc.record(
    {
      role: fc.constantFrom(...chatRoles),
      content: fc.oneof(
        unicodeText(),
        fc.array(
          unicodeText(8).map((text) => ({ type: 'text' as const, text })),
          { minLength: 1, maxLength: 4 },
        ),
      ),
      name: unicodeText(4),
    },
    { requiredKeys: ['role', 'content'] },
  )
  const conversation = fc.array(message, { minLength: 1, maxLength: 4 }).map((messages) => request(messages))

  it.each(tokenEncodings)('is at least what the upstream bills in %s for arbitrary conversations', async (encoding) => {
    await fc.assert(
      fc.asyncProperty(conversation, async (asked) => {
        const quoted = await promptTokens(asked, encoding)
        expect(quoted).toBeGreaterThanOrEqual(truePromptTokens(encoding, asked, 'joined'))
        expect(quoted).toBeGreaterThanOrEqual(truePromptTokens(encoding, asked, 'separately'))
      }),
      { numRuns: 300 },
    )
  })

  it('is, without an encoding, at least what the upstream bills in every supported encoding', async () => {
    await fc.assert(
      fc.asyncProperty(conversation, async (asked) => {
        const bound = await promptTokens(asked, undefined)
        for (const encoding of tokenEncodings) {
          expect(bound).toBeGreaterThanOrEqual(truePromptTokens(encoding, asked, 'joined'))
          expect(bound).toBeGreaterThanOrEqual(truePromptTokens(encoding, asked, 'separately'))
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('completionTokenLimit', () => {
  it('is the larger limit when both are set, since upstreams honour different ones', () => {
    expect(completionTokenLimit({})).toBeUndefined()
    expect(completionTokenLimit({ max_tokens: 10 })).toBe(10)
    expect(completionTokenLimit({ max_completion_tokens: 20 })).toBe(20)
    expect(completionTokenLimit({ max_tokens: 30, max_completion_tokens: 20 })).toBe(30)
  })
})
