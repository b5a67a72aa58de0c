// What a quote's prompt count costs, the work every unpaid request (402) does:
// `npx vitest bench --run bench/tokens.bench.ts`. Prose is the README;
// "words" are random lowercase words that miss the vocabulary, and "one piece"
// is a single run of random letters, BPE's quadratic worst case.
import { readFileSync } from 'node:fs'
import { bench, describe } from 'vitest'
import { exactCountLimit, promptTokens, textCounter } from '../../src/chat/tokens.js'
import type { ChatCompletionRequest } from '../../src/chat/types.js'

const kib = 1024
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
const prose = (bytes: number) => readme.repeat(Math.ceil(bytes / readme.length)).slice(0, bytes)

let state = 42
const random = (below: number) => {
  state = (state * 1_103_515_245 + 12_345) >>> 0
  return state % below
}
const letters = (length: number) => Array.from({ length }, () => String.fromCharCode(97 + random(26))).join('')
const words = (bytes: number) => {
  let text = ''
  while (text.length < bytes) text += ` ${letters(3 + random(10))}`
  return text.slice(0, bytes)
}
const cjk = (characters: number) => Array.from({ length: characters }, () => String.fromCodePoint(0x4e00 + random(0x5200))).join('')

// Under the exact-count limit with the framing: the largest prompt still tokenized.
const underLimit = exactCountLimit - 100
const prompts: [string, string][] = [
  ['1 KiB prose', prose(kib)],
  ['100 KiB prose', prose(100 * kib)],
  ['1 KiB CJK', cjk(kib / 3)],
  [`${exactCountLimit / kib} KiB words`, words(underLimit)],
  [`${exactCountLimit / kib} KiB one piece`, letters(underLimit)],
]
const request = (content: string): ChatCompletionRequest => ({
  model: 'm',
  messages: [
    { role: 'system', content: 'You are a careful assistant.' },
    { role: 'user', content },
  ],
})

// Loaded before timing: the first quote of an encoding imports its ranks.
await Promise.all([textCounter('o200k_base'), textCounter('cl100k_base')])

for (const [name, content] of prompts) {
  describe(name, () => {
    const asked = request(content)
    bench('o200k_base', async () => {
      await promptTokens(asked, 'o200k_base')
    })
    bench('cl100k_base', async () => {
      await promptTokens(asked, 'cl100k_base')
    })
    bench('byte bound', async () => {
      await promptTokens(asked, undefined)
    })
  })
}
