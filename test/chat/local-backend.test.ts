import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { defaultCatalogue, type ModelPrice } from '../../src/chat/catalogue.js'
import { localBackend } from '../../src/chat/local-backend.js'
import { promptTokens, textCounter, utf8Length } from '../../src/chat/tokens.js'
import { type ChatCompletionRequest, chatCompletionSchema, completionTokenLimit } from '../../src/chat/types.js'
import { UpstreamError } from '../../src/chat/upstream-error.js'
import { unicodeText } from './unicode.js'

const request = (content: string, extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model: 'local',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content },
  ],
  ...extra,
})

const price = { inputTokenPrice: 10n, outputTokenPrice: 20n, maxOutputTokens: 256 }
const catalogue: ModelPrice[] = [
  { id: 'local', ...price, encoding: 'o200k_base' },
  { id: 'local-gpt4', ...price, encoding: 'cl100k_base' },
  { id: 'local-bytes', ...price },
]
const backend = localBackend({ now: () => 1_700_000_000_000, catalogue })
const text = (completion: { choices: { message: { content: string | null } }[] }) => completion.choices[0]?.message.content ?? ''

describe('localBackend, the offline default', () => {
  it('answers a valid completion, the same one for the same request', async () => {
    const first = await backend.complete(request('What is a payment channel?'))
    const second = await localBackend({ now: () => 1_700_000_000_000, catalogue }).complete(request('What is a payment channel?'))
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

  it.each([
    ['local', 'o200k_base'],
    ['local-gpt4', 'cl100k_base'],
    ['local-bytes', undefined],
  ] as const)('reports usage of %s as the route quotes it: the prompt count and the returned text, in %s', async (model, encoding) => {
    const asked = request('Explain vouchers.', { model, max_tokens: 100 })
    const completion = await backend.complete(asked)
    const prompt = await promptTokens(asked, encoding)
    const completionTokens = (await textCounter(encoding))(text(completion))
    expect(completion.usage).toEqual({
      prompt_tokens: prompt,
      completion_tokens: completionTokens,
      total_tokens: prompt + completionTokens,
    })
  })

  it('counts a model missing from its catalogue by the byte bound', async () => {
    const asked = request('Explain vouchers.', { model: 'unlisted' })
    const completion = await backend.complete(asked)
    expect(completion.usage.prompt_tokens).toBe(await promptTokens(asked, undefined))
    expect(completion.usage.completion_tokens).toBe(utf8Length(text(completion)))
  })

  it("counts the default catalogue's local-echo by its encoding", async () => {
    const [echo] = defaultCatalogue
    const asked = request('Explain vouchers.', { model: 'local-echo' })
    const completion = await localBackend().complete(asked)
    expect(completion.usage.prompt_tokens).toBe(await promptTokens(asked, echo?.encoding))
    expect(echo?.encoding).toBe('o200k_base')
  })

  it('never returns more completion tokens than max_tokens, cutting with finish_reason length', async () => {
    const count = await textCounter('o200k_base')
    for (let limit = 0; limit <= 40; limit++) {
      const completion = await backend.complete(request('Tell me everything.', { max_tokens: limit }))
      expect(completion.usage.completion_tokens).toBeLessThanOrEqual(limit)
      expect(completion.usage.completion_tokens).toBe(count(text(completion)))
    }
    const none = await backend.complete(request('Tell me everything.', { max_tokens: 0 }))
    expect(text(none)).toBe('')
    expect(none.choices[0]?.finish_reason).toBe('length')
  })

  it('honours the stricter of max_tokens and max_completion_tokens', async () => {
    const completion = await backend.complete(request('Tell me everything.', { max_tokens: 50, max_completion_tokens: 3 }))
    expect(completion.usage.completion_tokens).toBeLessThanOrEqual(3)
  })

  it('stays within the quote (prompt count + token limit) for any request to any of its models', async () => {
    const message = fc.record({
      role: fc.constantFrom('system' as const, 'user' as const, 'assistant' as const, 'developer' as const),
      content: unicodeText(),
    })
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...catalogue),
        fc.array(message, { minLength: 1, maxLength: 4 }),
        fc.nat({ max: 64 }),
        fc.option(fc.nat({ max: 64 }), { nil: undefined }),
        async (model, messages, maxTokens, maxCompletion) => {
          const asked: ChatCompletionRequest = {
            model: model.id,
            messages,
            max_tokens: maxTokens,
            ...(maxCompletion === undefined ? {} : { max_completion_tokens: maxCompletion }),
          }
          const { usage } = await backend.complete(asked)
          expect(usage.prompt_tokens).toBeLessThanOrEqual(await promptTokens(asked, model.encoding))
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
