import { describe, expect, it } from 'vitest'
import { paymentProblemTypes } from '../../src/protocol/problem-types.js'
import { mppx } from './mppx.js'

type ProblemError = { type: string; status: number }

describe('paymentProblemTypes', () => {
  it('is the core problem table of mppx 0.11 (its session/ types are the intent’s, not the scheme’s)', async () => {
    const errors = await mppx<Record<string, unknown>>('Errors.js')
    const core: Record<string, number> = {}
    for (const exported of Object.values(errors)) {
      if (typeof exported !== 'function') continue
      const error = new (exported as new () => ProblemError)()
      const type = error.type?.replace('https://paymentauth.org/problems/', '')
      if (type !== undefined && !type.includes('/')) core[type] = error.status
    }
    expect(core).toEqual(paymentProblemTypes)
  })
})
