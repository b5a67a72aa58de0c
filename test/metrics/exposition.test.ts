import { describe, expect, it } from 'vitest'
import { renderExposition } from '../../src/metrics/exposition.js'

describe('renderExposition', () => {
  it('writes HELP, TYPE and samples in the 0.0.4 text format, label values and help escaped', () => {
    const text = renderExposition([
      {
        name: 'x_total',
        help: 'a \\ help\nline',
        type: 'counter',
        samples: [{ labels: { code: 'a"b\\c\nd', status: '200' }, value: 2 }, { value: 340282366920938463463374607431768211455n }],
      },
      {
        name: 'h',
        help: 'h',
        type: 'histogram',
        samples: [{ suffix: '_bucket', labels: { le: '+Inf' }, value: Number.POSITIVE_INFINITY }],
      },
    ])
    expect(text).toBe(
      [
        '# HELP x_total a \\\\ help\\nline',
        '# TYPE x_total counter',
        'x_total{code="a\\"b\\\\c\\nd",status="200"} 2',
        // Base-unit amounts stay exact decimal integers (uint128 max), never rounded through a float.
        'x_total 340282366920938463463374607431768211455',
        '# HELP h h',
        '# TYPE h histogram',
        'h_bucket{le="+Inf"} +Inf',
        '',
      ].join('\n'),
    )
  })
})
