// Our wire formats against mppx 0.11's, both ways: what we write it reads (and
// binds to the same id), what it writes we read. Arbitrary values, so the header
// slot, opaque, expires and digest meet in every combination.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Challenge, computeChallengeId } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { mppx } from './mppx.js'

type MppxChallenge = Record<string, unknown> & { id: string }
type MppxChallengeModule = {
  from(parameters: Record<string, unknown>): MppxChallenge
  serialize(challenge: MppxChallenge): string
  deserialize(value: string): MppxChallenge
  verify(challenge: MppxChallenge, options: { secretKey: string }): boolean
}
type MppxCredentialModule = {
  serialize(credential: { challenge: MppxChallenge; payload: unknown; source?: string }): string
  deserialize(value: string): { challenge: MppxChallenge; payload: unknown; source?: string }
}
type MppxReceiptModule = { deserialize(value: string): Record<string, unknown>; serialize(receipt: Record<string, unknown>): string }

const secretKey = 'interop-secret-of-at-least-32-bytes'
const runs = { numRuns: 500 }
const dates = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
const parameters = fc.record(
  {
    realm: fc.stringMatching(/^[\x20-\x7E]{1,20}$/),
    method: fc.stringMatching(/^[a-z]{1,8}$/),
    intent: fc.stringMatching(/^[a-z0-9-]{1,8}$/),
    request: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    expires: dates.map((date) => date.toISOString()),
    digest: fc.stringMatching(/^sha-256=:[A-Za-z0-9+/]{43}=:$/),
    description: fc.stringMatching(/^[\x20-\x7E]{0,20}$/),
    opaque: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
    header: fc.constant('Payment-Authorization' as const),
  },
  { requiredKeys: ['realm', 'method', 'intent', 'request'] },
)

describe('interoperability with mppx 0.11', () => {
  it('mppx reads our challenges and verifies their binding, header and opaque included', async () => {
    const reference = await mppx<MppxChallengeModule>('Challenge.js')
    fc.assert(
      fc.property(parameters, (values) => {
        const ours = Challenge.create({ secretKey, ...values })
        const theirs = reference.deserialize(Challenge.format(ours))
        expect(reference.verify(theirs, { secretKey })).toBe(true)
        expect(theirs.header).toBe(ours.header)
        expect(theirs.id).toBe(ours.id)
      }),
      runs,
    )
  })

  it('we read mppx’s challenges and compute the id it bound', async () => {
    const reference = await mppx<MppxChallengeModule>('Challenge.js')
    fc.assert(
      fc.property(parameters, ({ opaque, ...values }) => {
        const theirs = reference.from({ ...values, ...(opaque !== undefined && { meta: opaque }), secretKey })
        const ours = Challenge.parse(reference.serialize(theirs))
        expect(computeChallengeId({ secretKey, ...ours })).toBe(theirs.id)
        expect(Challenge.opaque(ours)).toEqual(opaque)
        expect(Challenge.credentialHeader(ours)).toBe(values.header ?? 'Authorization')
      }),
      runs,
    )
  })

  it('credentials cross both ways, the echoed header included', async () => {
    const challenges = await mppx<MppxChallengeModule>('Challenge.js')
    const credentials = await mppx<MppxCredentialModule>('Credential.js')
    const payloads = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })
    fc.assert(
      fc.property(parameters, payloads, (values, payload) => {
        const ours = { challenge: Challenge.create({ secretKey, ...values }), payload: JSON.parse(JSON.stringify(payload)) }
        const theirs = credentials.deserialize(Credential.format(ours))
        expect(challenges.verify(theirs.challenge, { secretKey })).toBe(true)
        expect(theirs.payload).toEqual(ours.payload)
        expect(Credential.parse(credentials.serialize(theirs))).toEqual(ours)
      }),
      runs,
    )
  })

  it('mppx reads every receipt we write, and we read its receipts', async () => {
    const reference = await mppx<MppxReceiptModule>('Receipt.js')
    const offsets = fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 })
    fc.assert(
      fc.property(dates, offsets, (date, offset) => {
        const local = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, -1)
        const magnitude = Math.abs(offset)
        const zone = `${offset < 0 ? '-' : '+'}${String(Math.floor(magnitude / 60)).padStart(2, '0')}:${String(magnitude % 60).padStart(2, '0')}`
        for (const timestamp of [date.toISOString(), `${local}${zone}`]) {
          const receipt: Receipt = { status: 'success', method: 'tempo', timestamp, reference: '0xabc', spent: '5' }
          expect(reference.deserialize(Receipt.format(receipt))).toEqual(receipt)
          expect(Receipt.parse(reference.serialize(receipt))).toEqual(receipt)
        }
      }),
      runs,
    )
  })
})
