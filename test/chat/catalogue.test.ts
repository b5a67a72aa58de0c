import { describe, expect, it } from 'vitest'
import { parseCatalogue } from '../../src/chat/catalogue.js'

describe('parseCatalogue', () => {
  it('reads prices as bigints and the encoding when a model names one', () => {
    const json = JSON.stringify([
      { id: 'gpt-4o', inputTokenPrice: '250', outputTokenPrice: 1000, maxOutputTokens: 4096, encoding: 'o200k_base' },
      { id: 'gpt-4', inputTokenPrice: 3000, outputTokenPrice: '6000', maxOutputTokens: 4096, encoding: 'cl100k_base' },
      { id: 'llama', inputTokenPrice: 1, outputTokenPrice: 2, maxOutputTokens: 512 },
    ])
    expect(parseCatalogue(json)).toEqual([
      { id: 'gpt-4o', inputTokenPrice: 250n, outputTokenPrice: 1000n, maxOutputTokens: 4096, encoding: 'o200k_base' },
      { id: 'gpt-4', inputTokenPrice: 3000n, outputTokenPrice: 6000n, maxOutputTokens: 4096, encoding: 'cl100k_base' },
      { id: 'llama', inputTokenPrice: 1n, outputTokenPrice: 2n, maxOutputTokens: 512 },
    ])
  })

  it('refuses an encoding it cannot count with, rather than quietly quoting by bytes', () => {
    for (const encoding of ['o200k', 'p50k_base', 'O200K_BASE', '', null]) {
      const json = JSON.stringify([{ id: 'm', inputTokenPrice: 1, outputTokenPrice: 2, maxOutputTokens: 8, encoding }])
      expect(() => parseCatalogue(json), String(encoding)).toThrow()
    }
  })
})
