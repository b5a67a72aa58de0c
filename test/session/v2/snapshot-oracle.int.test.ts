// src/session/v2/snapshot.ts against mppx 0.11's snapshot codec
// (test/interop/clients/mppx-snapshot.ts, run as a child process from the
// nested package that pins mppx): what our server sends, mppx's client
// decodes to the same object; what mppx serializes, our parser reads.
import type { Address } from 'viem'
import { expect, it } from 'vitest'
import { computeChannelId } from '../../../src/session/v2/channel-id.js'
import type { ChannelDescriptor } from '../../../src/session/v2/descriptor.js'
import { formatSnapshot, parseSnapshot, type SessionSnapshot, snapshotFromJson } from '../../../src/session/v2/snapshot.js'
import { runMppxScript } from '../../support/mppx-script.js'

const runOracle = (input: { headers: string[]; snapshots: SessionSnapshot[] }) =>
  runMppxScript<{ decoded: unknown[]; serialized: string[] }>('mppx-snapshot.ts', input)

const escrow = '0x4d50500000000000000000000000000000000000' as Address
const descriptor: ChannelDescriptor = {
  payer: '0x70997970c51812dc3a010c7d01b50e0d17dc79c8',
  payee: '0x15d34aaf54267db7d7c367839aaf71a00a2c6a65',
  operator: '0x0000000000000000000000000000000000000000',
  token: '0x20c0000000000000000000000000000000000000',
  salt: '0x9c1b3e2d4a5b6c7d8e9f6d0f4fdf1f2f6a1f6c1b0fbd6a7d5c2c0a8d3d7b1f6a',
  authorizedSigner: '0x0000000000000000000000000000000000000000',
  expiringNonceHash: '0x0a8d3d7b1f6a9c1b3e2d4a5b6c7d8e9f6d0f4fdf1f2f6a1f6c1b0fbd6a7d5c2c',
}
const open: SessionSnapshot = {
  acceptedCumulative: '300000',
  chainId: 31337,
  channelId: computeChannelId(descriptor, escrow, 31337),
  deposit: '10000000',
  descriptor,
  escrow,
  requiredCumulative: '250000',
  settled: '0',
  spent: '250000',
}
const closing: SessionSnapshot = {
  ...open,
  acceptedCumulative: '79228162514264337593543950335',
  closeRequestedAt: '1790000000',
  settled: '100000',
  spent: '0',
  units: 7,
  highestVoucher: {
    channelId: computeChannelId(descriptor, escrow, 31337),
    cumulativeAmount: '79228162514264337593543950335',
    signature: `0x${'ab'.repeat(64)}1b`,
  },
}
// Same fields, other lengths: one of the three JSON lengths mod 3 is padded by mppx's encoder (standard base64).
const lengths = [open, closing, { ...open, settled: '1' }, { ...open, settled: '12' }]

it("mppx 0.11's deserializeSnapshot decodes our Payment-Session-Snapshot to the same object", async () => {
  const { decoded } = await runOracle({ headers: lengths.map(formatSnapshot), snapshots: [] })
  expect(decoded).toEqual(lengths)
}, 30_000)

it("our parser reads mppx 0.11's serializeSnapshot: the same object; its padded standard base64 only as JSON", async () => {
  const { serialized } = await runOracle({ headers: [], snapshots: lengths })
  for (const [i, header] of serialized.entries()) {
    // mppx encodes with ox's Base64.fromString (standard alphabet, padded), not the spec's unpadded base64url.
    expect(snapshotFromJson(JSON.parse(Buffer.from(header, 'base64').toString('utf8')))).toEqual(lengths[i])
    if (/^[A-Za-z0-9_-]+$/.test(header)) expect(parseSnapshot(header)).toEqual(lengths[i])
  }
  expect(serialized.some((header) => header.endsWith('='))).toBe(true)
}, 30_000)
