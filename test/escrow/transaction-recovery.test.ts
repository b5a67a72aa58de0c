// The v1 escrow's client transactions (src/escrow/transaction.ts): the sender
// of a Tempo 0x76 or EIP-1559 transaction is recovered on the secp256k1 backend
// given, each backend agreeing with viem, and a signature that is not canonical
// is refused before any backend is asked.
import fc from 'fast-check'
import { Signature } from 'ox'
import { type Hex, keccak256, recoverTransactionAddress, serializeTransaction } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { Account } from 'viem/tempo'
import { describe, expect, it } from 'vitest'
import { PaymentError } from '../../src/errors/payment-error.js'
import { decodeSignedTransaction } from '../../src/escrow/transaction.js'
import { backendNames } from '../../src/secp256k1/backend.js'
import { selectRecoveryBackend } from '../../src/secp256k1/select.js'
import { curveOrder } from '../../src/secp256k1/signature.js'
import { counting, privateKey, word } from '../secp256k1/arbitraries.js'

const chainId = 31337
const escrow = '0x5fbdb2315678afecb367f032d93f642f64180aa3'

const backends = backendNames.map((name) => counting(selectRecoveryBackend(name).backend))

const eip1559 = (nonce: number) =>
  ({
    type: 'eip1559',
    chainId,
    nonce,
    to: escrow,
    data: '0xdeadbeef',
    gas: 1_000_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  }) as const
const tempo = (nonce: number) => ({
  chainId,
  calls: [{ to: escrow, data: '0xdeadbeef' as Hex }],
  gas: 1_000_000n,
  maxFeePerGas: 0n,
  maxPriorityFeePerGas: 0n,
  nonce,
  feeToken: '0x20c0000000000000000000000000000000000000',
})

describe('decodeSignedTransaction', () => {
  it('recovers the sender of Tempo and EIP-1559 transactions on each backend, as viem does', async () => {
    await fc.assert(
      fc.asyncProperty(privateKey, fc.integer({ min: 0, max: 1_000 }), async (key, nonce) => {
        const sender = privateKeyToAccount(key).address.toLowerCase()
        const signed1559 = await privateKeyToAccount(key).signTransaction(eip1559(nonce))
        expect((await recoverTransactionAddress({ serializedTransaction: signed1559 as `0x02${string}` })).toLowerCase()).toBe(sender)
        const signedTempo = (await Account.fromSecp256k1(key).signTransaction(tempo(nonce) as never)) as Hex
        for (const backend of backends) {
          expect((await decodeSignedTransaction(signed1559, chainId, backend)).sender).toBe(sender)
          expect((await decodeSignedTransaction(signedTempo, chainId, backend)).sender).toBe(sender)
        }
      }),
      { numRuns: 25 },
    )
    for (const backend of backends) expect(backend.calls).toBe(50)
    for (const backend of backends) backend.calls = 0
  })

  it('refuses the high-s twin of a signature before any backend is asked', async () => {
    const account = privateKeyToAccount(`0x${word(7n)}`)
    const request = eip1559(0)
    const { r, s, yParity } = Signature.fromHex(await account.sign({ hash: keccak256(serializeTransaction(request)) }))
    const twin = serializeTransaction(request, { r: `0x${word(r)}`, s: `0x${word(curveOrder - s)}`, yParity: 1 - yParity })
    for (const backend of backends) {
      await expect(decodeSignedTransaction(twin, chainId, backend)).rejects.toThrow(PaymentError)
      expect(backend.calls).toBe(0)
    }
    // The canonical one reaches each backend once.
    const signed = serializeTransaction(request, { r: `0x${word(r)}`, s: `0x${word(s)}`, yParity })
    for (const backend of backends) {
      expect((await decodeSignedTransaction(signed, chainId, backend)).sender).toBe(account.address.toLowerCase())
      expect(backend.calls).toBe(1)
    }
  })
})
