import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { localBackend } from '../../src/chat/local-backend.js'
import { countTokens, estimatePromptTokens } from '../../src/chat/tokens.js'
import { type ChatCompletionRequest, chatCompletionSchema, completionTokenLimit } from '../../src/chat/types.js'
import { UpstreamError } from '../../src/chat/upstream-error.js'

const request = (content: string, extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model: 'local',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content },
  ],
  ...extra,
})

const backend = localBackend({ now: () => 1_700_000_000_000 })
const text = (completion: { choices: { message: { content: string | null } }[] }) => completion.choices[0]?.message.content ?? ''

describe('localBackend, the offline default', () => {
  it('answers a valid completion, the same one for the same request', async () => {
    const first = await backend.complete(request('What is a payment channel?'))
    const second = await localBackend({ now: () => 1_700_000_000_000 }).complete(request('What is a payment channel?'))
    expect(chatCompletionSchema.parse(first)).toEqual(first)
    expect(second).toEqual(first)
    expect(first).toMatchObject({ object: 'chat.completion', model: 'local', created: 1_700_000_000 })
    expect(first.choices[0]?.finish_reason).toBe('stop')
    expect(text(first)).toMatch(/^[A-Z][a-z]+( [a-z]+)+\.$/)
  })

  it('varies the reply with the last user message', async () => {
    const replies = new Set<string>()
    for (const question of ['one', 'two', 'three', 'four', 'five']) replies.add(text(await backend.complete(request(question))))
    expect(replies.size).toBeGreaterThan(1)
  })

  it('reports usage as countTokens of the returned text and the prompt estimate', async () => {
    const asked = request('Explain vouchers.', { max_tokens: 100 })
    const completion = await backend.complete(asked)
    expect(completion.usage).toEqual({
      prompt_tokens: estimatePromptTokens(asked),
      completion_tokens: countTokens(text(completion)),
      total_tokens: estimatePromptTokens(asked) + countTokens(text(completion)),
    })
  })

  it('never returns more completion tokens than max_tokens, cutting with finish_reason length', async () => {
    for (let limit = 0; limit <= 40; limit++) {
      const completion = await backend.complete(request('Tell me everything.', { max_tokens: limit }))
      expect(completion.usage.completion_tokens).toBeLessThanOrEqual(limit)
      expect(completion.usage.completion_tokens).toBe(countTokens(text(completion)))
    }
    const none = await backend.complete(request('Tell me everything.', { max_tokens: 0 }))
    expect(text(none)).toBe('')
    expect(none.choices[0]?.finish_reason).toBe('length')
  })

  it('honours the stricter of max_tokens and max_completion_tokens', async () => {
    const completion = await backend.complete(request('Tell me everything.', { max_tokens: 50, max_completion_tokens: 3 }))
    expect(completion.usage.completion_tokens).toBeLessThanOrEqual(3)
  })

  it('stays within the quote bound (prompt estimate + token limit) for any request', async () => {
    const message = fc.record({
      role: fc.constantFrom('system' as const, 'user' as const, 'assistant' as const, 'developer' as const),
      content: fc.string({ unit: 'grapheme', maxLength: 80 }),
    })
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { minLength: 1, maxLength: 4 }),
        fc.nat({ max: 64 }),
        fc.option(fc.nat({ max: 64 }), { nil: undefined }),
        async (messages, maxTokens, maxCompletion) => {
          const asked: ChatCompletionRequest = {
            model: 'local',
            messages,
            max_tokens: maxTokens,
            ...(maxCompletion === undefined ? {} : { max_completion_tokens: maxCompletion }),
          }
          const { usage } = await backend.complete(asked)
          expect(usage.prompt_tokens).toBeLessThanOrEqual(estimatePromptTokens(asked))
          expect(usage.completion_tokens).toBeLessThanOrEqual(completionTokenLimit(asked)!)
          expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens)
        },
      ),
    )
  })

  it('refuses an already aborted request like an upstream would', async () => {
    await expect(backend.complete(request('hi'), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(UpstreamError)
    await expect(backend.complete(request('hi'), { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'upstream_aborted' })
  })
})
