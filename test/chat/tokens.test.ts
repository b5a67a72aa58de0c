import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { countTokens, estimatePromptTokens } from '../../src/chat/tokens.js'
import { type ChatCompletionRequest, completionTokenLimit } from '../../src/chat/types.js'

describe('countTokens', () => {
  it('is zero only for the empty string', () => {
    expect(countTokens('')).toBe(0)
    expect(countTokens(' ')).toBe(1)
    expect(countTokens('a')).toBe(1)
  })

  // Counts from the cl100k_base tokenizer (GPT-3.5/4); the estimate must not fall below them.
  it.each([
    ['hello world', 2],
    ['tiktoken is great!', 6],
    ['The quick brown fox jumps over the lazy dog.', 10],
    ['a b c d e f g h', 8],
    ['1234567890', 4],
  ])('counts %j as at least %i tokens', (text, tokens) => {
    expect(countTokens(text)).toBeGreaterThanOrEqual(tokens)
  })

  it('counts every split a BPE tokenizer makes before merging', () => {
    expect(countTokens('a,b;c')).toBe(5) // 3 letters + 2 punctuation marks
    // Hex alternates digits and letters: 0 | x | 6 | d | 0 | f. Six tokens where a third of the bytes says two.
    expect(countTokens('0x6d0f')).toBe(6)
  })

  it('uses UTF-8 bytes, so scripts without spaces are not undercounted', () => {
    expect(countTokens('你好世界')).toBe(4) // 12 bytes / 3
    expect(countTokens('👍')).toBe(2) // 4 bytes / 3, rounded up
  })

  it('is deterministic and never below a third of the UTF-8 bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        const tokens = countTokens(text)
        expect(countTokens(text)).toBe(tokens)
        expect(tokens).toBeGreaterThanOrEqual(Math.ceil(Buffer.byteLength(text) / 3))
      }),
    )
  })

  it('grows when text is appended', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.string({ maxLength: 100 }), (a, b) => {
        expect(countTokens(`${a} ${b}`)).toBeGreaterThanOrEqual(countTokens(a))
      }),
    )
  })
})

describe('estimatePromptTokens', () => {
  const base: ChatCompletionRequest = { model: 'm', messages: [{ role: 'user', content: 'Hello there' }] }

  it('adds per-message overhead and reply priming to the content', () => {
    // 3 reply priming + 4 per message + role "user" (2 by bytes) + content (4)
    expect(estimatePromptTokens(base)).toBe(3 + 4 + countTokens('user') + countTokens('Hello there'))
    const two = { ...base, messages: [{ role: 'system' as const, content: '' }, ...base.messages] }
    expect(estimatePromptTokens(two) - estimatePromptTokens(base)).toBe(4 + countTokens('system'))
  })

  it('counts names, content parts and extra message fields', () => {
    const named = { ...base, messages: [{ role: 'user' as const, content: 'Hello there', name: 'ann' }] }
    expect(estimatePromptTokens(named)).toBe(estimatePromptTokens(base) + 1 + countTokens('ann'))
    const parts = {
      ...base,
      messages: [
        {
          role: 'user' as const,
          content: [
            { type: 'text' as const, text: 'Hello' },
            { type: 'text' as const, text: ' there' },
          ],
        },
      ],
    }
    expect(estimatePromptTokens(parts)).toBeGreaterThanOrEqual(estimatePromptTokens(base))
    const tool = { ...base, messages: [{ role: 'tool' as const, content: '42', tool_call_id: 'call_abc' }] }
    expect(estimatePromptTokens(tool)).toBeGreaterThan(3 + 4 + countTokens('tool') + countTokens('42'))
  })

  it('counts prompt-bearing request fields such as tools, but not sampling parameters', () => {
    const tools = [
      { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } },
    ]
    expect(estimatePromptTokens({ ...base, tools })).toBe(estimatePromptTokens(base) + countTokens(JSON.stringify(tools)))
    expect(estimatePromptTokens({ ...base, temperature: 0.5, max_tokens: 100, seed: 7, stream: false })).toBe(estimatePromptTokens(base))
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
