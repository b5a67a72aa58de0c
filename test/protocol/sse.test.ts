import { describe, expect, it } from 'vitest'
import { formatEvent, readEvents } from '../../src/protocol/sse.js'

/** A body delivering `parts` as separate reads. */
const bodyOf = (parts: string[]) => {
  const encoder = new TextEncoder()
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part))
      controller.close()
    },
  })
}
const read = async (parts: string[]) => {
  const events = []
  for await (const event of readEvents(bodyOf(parts))) events.push(event)
  return events
}

describe('Server-Sent Events', () => {
  it('writes an event with and without a name', () => {
    expect(formatEvent('[DONE]')).toBe('data: [DONE]\n\n')
    expect(formatEvent('{"a":1}', 'payment-receipt')).toBe('event: payment-receipt\ndata: {"a":1}\n\n')
  })

  it('reads what it writes, whatever the reads split', async () => {
    const wire = formatEvent('{"x":"é"}') + formatEvent('{"y":2}', 'payment-need-voucher') + formatEvent('[DONE]')
    const expected = [{ data: '{"x":"é"}' }, { event: 'payment-need-voucher', data: '{"y":2}' }, { data: '[DONE]' }]
    expect(await read([wire])).toEqual(expected)
    expect(await read([...wire])).toEqual(expected)
  })

  it('takes CR, LF and CRLF line ends (a CRLF split between reads too), joins data lines, skips comments and other fields', async () => {
    expect(await read([': keep-alive\r\n', 'id: 7\r', '\nevent: e\rdata: a\r\n', 'data: b\r', '\n\r\n', 'data:c\n\n'])).toEqual([
      { event: 'e', data: 'a\nb' },
      { data: 'c' },
    ])
  })

  it('drops an event without data and an unterminated last event', async () => {
    expect(await read(['event: empty\n\n', 'data: cut'])).toEqual([])
  })
})
