// decodeSignedTransaction: the recovered sender and expiringNonceHash of Tempo
// 0x76 and EIP-1559 transactions signed by viem's own signers. The hash is
// checked against an independent reconstruction from the request the signer
// signed (viem's serializers, not a decode of the raw); the node's own value
// (anvil's expiring-nonce replay set) is checked in stand-in.int.test.ts.
import fc from 'fast-check'
import { P256, Rlp, Secp256k1, Signature } from 'ox'
import { SignatureEnvelope, TxEnvelopeTempo } from 'ox/tempo'
import { type Address, concat, type Hex, keccak256, recoverTransactionAddress, serializeTransaction } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { Account, Transaction } from 'viem/tempo'
import { describe, expect, it } from 'vitest'
import { decodeSignedTransaction, maxTransactionBytes } from '../../../src/session/v2/open-transaction.js'
import { tip20ChannelReserveAddress } from '../../../src/session/v2/reserve.js'
import { address, bytes32, errorCode } from '../../support/v2/arbitraries.js'

const privateKey = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
const sender = privateKeyToAccount(privateKey).address.toLowerCase() as Address
const payer = Account.fromSecp256k1(privateKey)
const sponsors = [
  Account.fromSecp256k1('0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a'),
  Account.fromSecp256k1('0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6'),
]
const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const expiringNonceKey = (1n << 256n) - 1n
const pathUsd = '0x20c0000000000000000000000000000000000000'

/** A channel-open shaped Tempo request: one call, expiring nonce, explicit gas and zero fees. */
const tempoRequest = (data: Hex = '0xdeadbeef', validBefore = 1_800_000_000) => ({
  chainId: 31337,
  calls: [{ to: tip20ChannelReserveAddress, data }],
  gas: 1_000_000n,
  maxFeePerGas: 0n,
  maxPriorityFeePerGas: 0n,
  nonceKey: expiringNonceKey,
  nonce: 0,
  validBefore,
  feeToken: pathUsd,
})

const signTempo = (request: object, account = payer) => account.signTransaction(request as never) as Promise<Hex>
const hashOf = (signingPayload: Hex, from: Address) => keccak256(concat([signingPayload, from]))

/** The raw transaction with its RLP field `index` replaced (test-only surgery with ox's RLP codec). */
function withField(raw: Hex, index: number, value: Hex): Hex {
  const fields = Rlp.toHex(`0x${raw.slice(4)}`) as Hex[]
  fields[index] = value
  return concat([raw.slice(0, 4) as Hex, Rlp.fromHex(fields as never)])
}

/**
 * The sender's half of a sponsored transaction as a 0x76 whose fee-payer slot holds `slot`
 * (the placeholder 0x00, or an address). viem signs the same payload and emits it in the
 * 0x78 hand-off format with the sender's address in that slot.
 */
async function sponsorHandoff(request: object, slot: Hex): Promise<Hex> {
  const handoff = await signTempo({ ...request, feePayer: true })
  expect(handoff.slice(0, 4)).toBe('0x78')
  return withField(`0x76${handoff.slice(4)}`, 11, slot)
}

/** Re-signs an unsigned copy of a Tempo transaction with another signature envelope. */
function withSignature(raw: Hex, signature: SignatureEnvelope.SignatureEnvelope): Hex {
  const { signature: _, ...envelope } = TxEnvelopeTempo.deserialize(raw as TxEnvelopeTempo.Serialized)
  return TxEnvelopeTempo.serialize(envelope, { signature })
}

describe('decodeSignedTransaction: Tempo 0x76', () => {
  it('recovers the sender and hashes the payload it signed, for any calls and expiry', async () => {
    await fc.assert(
      fc.asyncProperty(bytes32, fc.integer({ min: 1, max: 2 ** 32 - 1 }), async (data, validBefore) => {
        const request = tempoRequest(data, validBefore)
        const decoded = decodeSignedTransaction(await signTempo(request))
        // Built from the request the signer was given, not from the raw transaction.
        const signingPayload = await Transaction.serialize(request as never)
        expect(decoded).toEqual({
          type: 'tempo',
          chainId: 31337,
          sender,
          expiringNonceHash: hashOf(signingPayload, sender),
          calls: [{ to: tip20ChannelReserveAddress, data, value: 0n }],
        })
        // And that payload is what the signature signs.
        const signature = TxEnvelopeTempo.deserialize((await signTempo(request)) as TxEnvelopeTempo.Serialized).signature
        expect(signature?.type).toBe('secp256k1')
        if (signature?.type === 'secp256k1') {
          expect(Secp256k1.recoverAddress({ payload: keccak256(signingPayload), signature: signature.signature }).toLowerCase()).toBe(
            sender,
          )
        }
      }),
      { numRuns: 20 },
    )
  })

  it('gives the same hash whichever sponsor co-signs the fee, and before any co-signs it', async () => {
    const request = tempoRequest()
    const [first, second] = await Promise.all(sponsors.map((feePayer) => signTempo({ ...request, feePayer })))
    expect(first).not.toBe(second)
    const sponsored = decodeSignedTransaction(first!)
    expect(sponsored.sender).toBe(sender)
    expect(decodeSignedTransaction(second!)).toEqual(sponsored)
    // What the client sends the server to sponsor (draft-tempo-session §Server-Paid Fees): 0x76
    // with the fee-payer placeholder 0x00, signed without a fee token. Same hash, same sender.
    const placeholder = await sponsorHandoff(request, '0x00')
    expect(decodeSignedTransaction(placeholder)).toEqual(sponsored)
    // The sender signed the sponsored form, which is another transaction than the unsponsored one.
    expect(decodeSignedTransaction(await signTempo(request)).expiringNonceHash).not.toBe(sponsored.expiringNonceHash)
  })

  it('never takes the sender from the client-written fee-payer slot', async () => {
    const victim = '0x000000000000000000000000000000000000beef'
    const spoofed = await sponsorHandoff(tempoRequest(), victim)
    // ox reports the slot's address as `from` …
    expect(TxEnvelopeTempo.deserialize(spoofed as TxEnvelopeTempo.Serialized).from).toBe(victim)
    // … the signature says who signed.
    expect(decodeSignedTransaction(spoofed).sender).toBe(sender)
  })

  it('refuses senders it cannot recover: keychain, P256 and WebAuthn signatures', async () => {
    const raw = await signTempo(tempoRequest())
    const inner = SignatureEnvelope.from(Secp256k1.sign({ payload: `0x${'11'.repeat(32)}`, privateKey }))
    const keychain = withSignature(raw, SignatureEnvelope.from({ userAddress: sender, inner, version: 'v2' }))
    const key = P256.createKeyPair()
    const p256 = withSignature(
      raw,
      SignatureEnvelope.from({
        signature: P256.sign({ payload: `0x${'11'.repeat(32)}`, privateKey: key.privateKey }),
        publicKey: key.publicKey,
        prehash: false,
      }),
    )
    const webAuthn = withSignature(
      raw,
      SignatureEnvelope.from({
        signature: P256.sign({ payload: `0x${'11'.repeat(32)}`, privateKey: key.privateKey }),
        publicKey: key.publicKey,
        metadata: { authenticatorData: `0x${'49'.repeat(32)}0500000000`, clientDataJSON: '{"type":"webauthn.get","challenge":"eA"}' },
      }),
    )
    for (const signed of [keychain, p256, webAuthn])
      expect(errorCode(() => decodeSignedTransaction(signed))).toBe('transaction_unsupported')
  })

  it('refuses the high-s twin of its signature, and an unsigned transaction', async () => {
    const raw = await signTempo(tempoRequest())
    const signature = TxEnvelopeTempo.deserialize(raw as TxEnvelopeTempo.Serialized).signature
    if (signature?.type !== 'secp256k1') throw new Error('expected a secp256k1 signature')
    const { r, s, yParity } = signature.signature
    const twin = withSignature(raw, SignatureEnvelope.from({ r, s: n - s, yParity: 1 - yParity }))
    expect(errorCode(() => decodeSignedTransaction(twin))).toBe('signature_not_canonical')
    const { signature: _, ...unsigned } = TxEnvelopeTempo.deserialize(raw as TxEnvelopeTempo.Serialized)
    expect(errorCode(() => decodeSignedTransaction(TxEnvelopeTempo.serialize(unsigned)))).toBe('transaction_malformed')
  })
})

describe('decodeSignedTransaction: EIP-1559', () => {
  const account = privateKeyToAccount(privateKey)

  it('recovers the sender and hashes the unsigned serialization, as the request was signed', async () => {
    await fc.assert(
      fc.asyncProperty(address, bytes32, fc.integer({ min: 0, max: 1000 }), async (to, data, nonce) => {
        const request = {
          type: 'eip1559',
          chainId: 31337,
          nonce,
          to,
          data,
          gas: 1_000_000n,
          maxFeePerGas: 0n,
          maxPriorityFeePerGas: 0n,
        } as const
        const raw = await account.signTransaction(request)
        const decoded = decodeSignedTransaction(raw)
        expect(decoded).toEqual({
          type: 'eip1559',
          chainId: 31337,
          sender,
          expiringNonceHash: hashOf(serializeTransaction(request), sender),
          calls: [{ to, data, value: 0n }],
        })
        expect((await recoverTransactionAddress({ serializedTransaction: raw as `0x02${string}` })).toLowerCase()).toBe(sender)
      }),
      { numRuns: 20 },
    )
  })

  it('refuses the high-s twin of its signature', async () => {
    const request = {
      type: 'eip1559',
      chainId: 31337,
      nonce: 0,
      to: pathUsd,
      gas: 21_000n,
      maxFeePerGas: 0n,
      maxPriorityFeePerGas: 0n,
    } as const
    const { r, s, yParity } = Signature.fromHex(await account.sign({ hash: keccak256(serializeTransaction(request)) }))
    const word = (value: bigint) => `0x${value.toString(16).padStart(64, '0')}` as Hex
    expect(decodeSignedTransaction(serializeTransaction(request, { r: word(r), s: word(s), yParity })).sender).toBe(sender)
    const twin = serializeTransaction(request, { r: word(r), s: word(n - s), yParity: 1 - yParity })
    expect(errorCode(() => decodeSignedTransaction(twin))).toBe('signature_not_canonical')
  })
})

describe('decodeSignedTransaction: everything else', () => {
  it('refuses other transaction types, the 0x78 fee-payer hand-off included', async () => {
    const account = privateKeyToAccount(privateKey)
    const base = { chainId: 31337, nonce: 0, to: pathUsd, gas: 21_000n } as const
    const legacy = await account.signTransaction({ ...base, type: 'legacy', gasPrice: 0n })
    const eip2930 = await account.signTransaction({ ...base, type: 'eip2930', gasPrice: 0n, accessList: [] })
    const handoff = await signTempo({ ...tempoRequest(), feePayer: true })
    for (const raw of [legacy, eip2930, handoff])
      expect(
        errorCode(() => decodeSignedTransaction(raw)),
        raw.slice(0, 4),
      ).toBe('transaction_unsupported')
  })

  it('refuses what does not decode, is not hex of whole bytes, or is too large', () => {
    for (const raw of [
      '',
      '0x',
      '0x76',
      '0x76ff',
      '0x02c0',
      '76f8',
      '0x76f',
      `0x76${'zz'.repeat(10)}`,
      `0x76${'00'.repeat(maxTransactionBytes)}`,
    ]) {
      expect(
        errorCode(() => decodeSignedTransaction(raw)),
        raw.slice(0, 12),
      ).toBe('transaction_malformed')
    }
  })
})
