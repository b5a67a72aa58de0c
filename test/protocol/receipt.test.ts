import { describe, expect, it } from 'vitest'
import { base64url } from '../../src/protocol/base64url.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { WireError } from '../../src/protocol/wire-error.js'

const receipt: Receipt = {
  method: 'tempo',
  intent: 'session',
  status: 'success',
  timestamp: '2025-01-06T12:08:30Z',
  reference: '0x6d0f4fdf1f2f6a1f6c1b0fbd6a7d5c2c0a8d3d7b1f6a9c1b3e2d4a5b6c7d8e9f',
  challengeId: 'c_8d0e3b5a9f2c1d4e',
  channelId: '0x6d0f4fdf1f2f6a1f6c1b0fbd6a7d5c2c0a8d3d7b1f6a9c1b3e2d4a5b6c7d8e9f',
  acceptedCumulative: '250000',
  spent: '237500',
  units: 500,
}

describe('Receipt', () => {
  it('round-trips, keeping unknown fields', () => {
    const value = Receipt.format({ ...receipt, future: { a: 1 } })
    expect(value).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(Receipt.parse(value)).toEqual({ ...receipt, future: { a: 1 } })
  })

  it('is canonical JSON', () => {
    expect(base64url.decodeText(Receipt.format(receipt)).startsWith('{"acceptedCumulative":"250000","challengeId"')).toBe(true)
  })

  it.each([
    ['a non-success status', { ...receipt, status: 'failed' }],
    ['a missing reference', { ...receipt, reference: undefined }],
    ['a missing timestamp', { ...receipt, timestamp: undefined }],
    ['an array', [receipt]],
  ])('rejects %s', (_, value) => {
    expect(() => Receipt.parse(base64url.encode(JSON.stringify(value)))).toThrow(WireError)
  })

  it.each(['2025-01-06', '2025-01-06T12:08:30', '2025-01-06 12:08:30Z', '2025-02-30T12:08:30Z', '1736165310', 'yesterday'])(
    'rejects the timestamp %j, which is not an RFC 3339 date-time',
    (timestamp) => {
      expect(() => Receipt.parse(base64url.encode(JSON.stringify({ ...receipt, timestamp })))).toThrow(WireError)
      expect(() => Receipt.format({ ...receipt, timestamp })).toThrow(WireError)
    },
  )

  it('reads any RFC 3339 timestamp, and writes only the spelling with uppercase T and Z', () => {
    for (const timestamp of ['2025-01-06T12:08:30.123456Z', '2025-01-06T14:08:30+02:00', '2025-01-06t12:08:30z']) {
      expect(Receipt.parse(base64url.encode(JSON.stringify({ ...receipt, timestamp }))).timestamp).toBe(timestamp)
    }
    expect(Receipt.parse(Receipt.format({ ...receipt, timestamp: '2025-01-06T14:08:30.5+02:00' })).timestamp).toBe(
      '2025-01-06T14:08:30.5+02:00',
    )
    expect(() => Receipt.format({ ...receipt, timestamp: '2025-01-06t12:08:30Z' })).toThrow(WireError)
    expect(() => Receipt.format({ ...receipt, timestamp: '2025-01-06T12:08:30z' })).toThrow(WireError)
  })

  it('rejects padding and non-base64url input', () => {
    expect(() => Receipt.parse(`${Receipt.format(receipt)}=`)).toThrow(WireError)
    expect(() => Receipt.parse('not a receipt!')).toThrow(WireError)
  })
})
