// The v2 session snapshot: built from a channel's state, formatted as
// base64url of canonical JSON, and parsed strictly (a channel id that does not
// derive from the snapshot's terms is refused). mppx's codec as an oracle is
// in snapshot-oracle.int.test.ts.
import fc from 'fast-check'
import type { Address, Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import { canonicalJson } from '../../../src/protocol/canonical-json.js'
import { WireError } from '../../../src/protocol/wire-error.js'
import type { ChannelState } from '../../../src/session/channel.js'
import { maxUint96 } from '../../../src/session/v2/amount.js'
import { computeChannelId } from '../../../src/session/v2/channel-id.js'
import type { ChannelDescriptor } from '../../../src/session/v2/descriptor.js'
import { formatSnapshot, parseSnapshot, type SessionSnapshot, snapshotFromJson, snapshotOf } from '../../../src/session/v2/snapshot.js'
import { address, chainId, descriptor, uint96 } from '../../support/v2/arbitraries.js'

const escrow = '0x4d50500000000000000000000000000000000000' as Address
const fixedDescriptor: ChannelDescriptor = {
  payer: '0x1111111111111111111111111111111111111111',
  payee: '0x2222222222222222222222222222222222222222',
  operator: '0x0000000000000000000000000000000000000000',
  token: '0x20c0000000000000000000000000000000000000',
  salt: '0x0000000000000000000000000000000000000000000000000000000000000001',
  authorizedSigner: '0x3333333333333333333333333333333333333333',
  expiringNonceHash: '0x0000000000000000000000000000000000000000000000000000000000000002',
}
const fixedId = computeChannelId(fixedDescriptor, escrow, 4217)

function stateOf(overrides: Partial<ChannelState> = {}): ChannelState {
  return {
    channelId: fixedId,
    payer: fixedDescriptor.payer,
    payee: fixedDescriptor.payee,
    token: fixedDescriptor.token,
    authorizedSigner: fixedDescriptor.authorizedSigner,
    deposit: 10_000_000n,
    settled: 1_000n,
    closeRequestedAt: 0n,
    finalized: false,
    chainReadAt: 0,
    acceptedCumulative: 300_000n,
    acceptedAt: 0,
    vouchers: [],
    spent: 250_000n,
    reservations: {},
    closing: false,
    descriptor: fixedDescriptor,
    ...overrides,
  }
}

const snapshot = (overrides: Partial<SessionSnapshot> = {}): SessionSnapshot => ({
  ...snapshotOf(stateOf(), { escrow, chainId: 4217, requiredCumulative: 250_000n }),
  ...overrides,
})

/** The kind of the WireError `run` throws; undefined when it does not throw. */
function wireErrorKind(run: () => unknown): string | undefined {
  try {
    run()
  } catch (error) {
    if (error instanceof WireError) return error.kind
    throw error
  }
  return undefined
}

const encodeJson = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

describe('snapshotOf', () => {
  it('carries the channel as the server accounts it: decimal strings, lowercase hex, no closeRequestedAt while none is pending', () => {
    const mixedEscrow = '0x4D50500000000000000000000000000000000000' as Address
    expect(snapshotOf(stateOf(), { escrow: mixedEscrow, chainId: 4217, requiredCumulative: 250_000n })).toEqual({
      acceptedCumulative: '300000',
      chainId: 4217,
      channelId: fixedId,
      deposit: '10000000',
      descriptor: fixedDescriptor,
      escrow,
      requiredCumulative: '250000',
      settled: '1000',
      spent: '250000',
    })
  })

  it('carries a pending forced close as Unix seconds', () => {
    const s = snapshotOf(stateOf({ closeRequestedAt: 1_790_000_000n }), { escrow, chainId: 4217, requiredCumulative: 0n })
    expect(s.closeRequestedAt).toBe('1790000000')
  })

  it('carries the accepted voucher that proves acceptedCumulative, and none when the last kept one does not', () => {
    const signature = `0x${'ab'.repeat(65)}` as Hex
    const terms = { escrow, chainId: 4217, requiredCumulative: 0n }
    const proving = snapshotOf(
      stateOf({
        vouchers: [
          { amount: 200_000n, signature: '0x01' },
          { amount: 300_000n, signature },
        ],
      }),
      terms,
    )
    expect(proving.highestVoucher).toEqual({ channelId: fixedId, cumulativeAmount: '300000', signature })
    expect(parseSnapshot(formatSnapshot(proving))).toEqual(proving)
    expect(snapshotOf(stateOf({ vouchers: [{ amount: 200_000n, signature }] }), terms).highestVoucher).toBeUndefined()
    expect(snapshotOf(stateOf({ vouchers: [] }), terms).highestVoucher).toBeUndefined()
  })

  it('refuses a v1 channel (no descriptor)', () => {
    const { descriptor: _, ...v1 } = stateOf()
    expect(() => snapshotOf(v1, { escrow, chainId: 4217, requiredCumulative: 0n })).toThrow(TypeError)
  })
})

describe('formatSnapshot', () => {
  it('is base64url without padding of the canonical JSON (keys sorted, no whitespace)', () => {
    const header = formatSnapshot(snapshot())
    expect(header).toMatch(/^[A-Za-z0-9_-]+$/)
    const json = Buffer.from(header, 'base64url').toString('utf8')
    expect(json).toBe(canonicalJson(snapshot()))
    expect(json.startsWith('{"acceptedCumulative":"300000","chainId":4217,"channelId":"0x')).toBe(true)
  })
})

describe('parseSnapshot', () => {
  it('round-trips any snapshot whose channel id derives from its terms', () => {
    fc.assert(
      fc.property(descriptor, address, chainId, uint96, uint96, uint96, uint96, (d, e, id, a, b, deposit, settled) => {
        const [spent, accepted] = a <= b ? [a, b] : [b, a]
        const s: SessionSnapshot = {
          acceptedCumulative: accepted.toString(),
          chainId: id,
          channelId: computeChannelId(d, e, id),
          deposit: deposit.toString(),
          descriptor: d,
          escrow: e,
          requiredCumulative: spent.toString(),
          settled: settled.toString(),
          spent: spent.toString(),
        }
        expect(parseSnapshot(formatSnapshot(s))).toEqual(s)
      }),
      { numRuns: 50 },
    )
  })

  it('reads the optional closeRequestedAt and units', () => {
    const s = snapshot({ closeRequestedAt: '1790000000', units: 12 })
    expect(parseSnapshot(formatSnapshot(s))).toEqual(s)
  })

  it('lowercases hex written in any case', () => {
    const upper = {
      ...snapshot(),
      channelId: fixedId.toUpperCase().replace('0X', '0x'),
      escrow: '0x4D50500000000000000000000000000000000000',
    }
    expect(parseSnapshot(encodeJson(upper))).toEqual(snapshot())
  })

  it('refuses a channel id that does not derive from the descriptor, escrow and chain id', () => {
    const other = computeChannelId({ ...fixedDescriptor, salt: `0x${'00'.repeat(31)}03` as Hex }, escrow, 4217)
    expect(wireErrorKind(() => parseSnapshot(formatSnapshot(snapshot({ channelId: other }))))).toBe('session-snapshot')
    expect(wireErrorKind(() => parseSnapshot(formatSnapshot(snapshot({ chainId: 4218 }))))).toBe('session-snapshot')
    expect(wireErrorKind(() => parseSnapshot(formatSnapshot(snapshot({ escrow: '0x4d50500000000000000000000000000000000001' }))))).toBe(
      'session-snapshot',
    )
    const descriptorChanged = { ...snapshot(), descriptor: { ...fixedDescriptor, payee: '0x2222222222222222222222222222222222222223' } }
    expect(wireErrorKind(() => parseSnapshot(encodeJson(descriptorChanged)))).toBe('session-snapshot')
  })

  it('refuses a highestVoucher for another channel or amount', () => {
    const signature = `0x${'ab'.repeat(65)}` as Hex
    const other = `0x${'11'.repeat(32)}` as Hex
    const voucher = { channelId: fixedId, cumulativeAmount: '300000', signature }
    expect(parseSnapshot(formatSnapshot(snapshot({ highestVoucher: voucher }))).highestVoucher).toEqual(voucher)
    for (const bad of [
      { ...voucher, channelId: other },
      { ...voucher, cumulativeAmount: '299999' },
      { ...voucher, signature: '0x' },
    ]) {
      expect(wireErrorKind(() => snapshotFromJson({ ...snapshot(), highestVoucher: bad }))).toBe('session-snapshot')
    }
  })

  it('refuses spent above acceptedCumulative', () => {
    expect(wireErrorKind(() => parseSnapshot(formatSnapshot(snapshot({ spent: '300001' }))))).toBe('session-snapshot')
    expect(parseSnapshot(formatSnapshot(snapshot({ spent: '300000' })))).toEqual(snapshot({ spent: '300000' }))
  })

  it('refuses amounts that are not canonical uint96 decimals', () => {
    for (const bad of ['', '01', '-1', '1e3', ' 1', '0x10', (maxUint96 + 1n).toString()]) {
      expect(wireErrorKind(() => snapshotFromJson({ ...snapshot(), deposit: bad }))).toBe('session-snapshot')
    }
    expect(wireErrorKind(() => snapshotFromJson({ ...snapshot(), deposit: 10 }))).toBe('session-snapshot')
    expect(snapshotFromJson({ ...snapshot(), deposit: maxUint96.toString() }).deposit).toBe(maxUint96.toString())
  })

  it('refuses unknown or missing fields, and a chain id that is not a positive integer', () => {
    expect(wireErrorKind(() => snapshotFromJson({ ...snapshot(), extra: '1' }))).toBe('session-snapshot')
    const { settled: _, ...missing } = snapshot()
    expect(wireErrorKind(() => snapshotFromJson(missing))).toBe('session-snapshot')
    expect(wireErrorKind(() => snapshotFromJson({ ...snapshot(), chainId: '4217' }))).toBe('session-snapshot')
    expect(wireErrorKind(() => snapshotFromJson({ ...snapshot(), units: -1 }))).toBe('session-snapshot')
  })

  it('refuses what is not base64url of JSON: padding, the standard alphabet, not JSON', () => {
    const header = formatSnapshot(snapshot())
    expect(wireErrorKind(() => parseSnapshot(`${header}=`))).toBe('session-snapshot')
    expect(wireErrorKind(() => parseSnapshot(Buffer.from('{"a":1').toString('base64url')))).toBe('session-snapshot')
    expect(wireErrorKind(() => parseSnapshot('a+b/'))).toBe('session-snapshot')
  })
})
