// The viem Escrow adapter (src/escrow) against real anvils: Tempo mode for
// 0x76 and EIP-1559 transactions on pathUSD, standard mode for EIP-1559 on the
// test ERC-20. Fees are zero (anvil runs with --base-fee 0), so token balances
// are asserted to the base unit.
import { createServer, type Server, type Socket } from 'node:net'
import {
  type Address,
  createPublicClient,
  custom,
  encodeFunctionData,
  type Hex,
  http,
  keccak256,
  maxUint128,
  maxUint256,
  numberToHex,
  parseTransaction,
  recoverAddress,
  serializeTransaction,
  zeroAddress,
} from 'viem'
import type { LocalAccount } from 'viem/accounts'
import { Transaction } from 'viem/tempo'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testTokenAbi } from '../../contracts-abi/escrow/test-token-artifact.js'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { pathUsdAddress, tip20Abi } from '../../contracts-abi/tip20.js'
import { PaymentError } from '../../src/errors/payment-error.js'
import { evmChain, tempoChain } from '../../src/escrow/chain.js'
import { decodeEscrowTransaction } from '../../src/escrow/transaction.js'
import { type ViemEscrowOptions, viemEscrow } from '../../src/escrow/viem-escrow.js'
import type { Escrow } from '../../src/session/escrow.js'
import { computeChannelId } from '../../src/session/v1/channel-id.js'
import {
  type Anvil,
  anvilChainId,
  deployEscrow,
  deployTestToken,
  expectSuccess,
  gasLimits,
  mintTestToken,
  pathUsdBalance,
  startAnvil,
  type TestClient,
  testAccounts,
  testClient,
  zeroFees,
} from '../harness/local-chain.js'
import { closedPort } from '../support/ports.js'

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const alphaUsd = '0x20c0000000000000000000000000000000000001' as Address

const deployerAccount = testAccounts[0]!
const payerAccount = testAccounts[1]!
const payeeAccount = testAccounts[2]!
const strangerAccount = testAccounts[3]!
const payer = payerAccount.address.toLowerCase() as Address
const payee = payeeAccount.address.toLowerCase() as Address

const voucherTypes = {
  Voucher: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'cumulativeAmount', type: 'uint128' },
  ],
} as const

let saltCounter = 0n
const nextSalt = (): Hex => numberToHex(++saltCounter, { size: 32 })

/** Expects a PaymentError with `code`; returns it for further checks. */
async function expectPaymentError(promise: Promise<unknown>, code: PaymentError['code']): Promise<PaymentError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, `expected ${code}`).toBeInstanceOf(PaymentError)
  const paymentError = err as PaymentError
  expect(paymentError.code, paymentError.detail).toBe(code)
  return paymentError
}

/** Signs (without sending) a Tempo 0x76 transaction through the client, so nonce and fee token come from the chain. */
async function signTempo(client: TestClient, calls: readonly { to: Address; data: Hex }[]): Promise<Hex> {
  const request = await client.prepareTransactionRequest({ calls, gas: gasLimits.call, ...zeroFees } as never)
  return client.signTransaction(request as never)
}

/** Signs (without sending) an EIP-1559 transaction through the client. */
async function signEip1559(client: TestClient, to: Address, data: Hex, value = 0n): Promise<Hex> {
  const request = await client.prepareTransactionRequest({ to, data, value, gas: gasLimits.call, ...zeroFees, type: 'eip1559' } as never)
  return client.signTransaction(request as never)
}

/** Signs a Tempo transaction offline with any fields (e.g. a foreign chain id); never broadcast. */
async function signTempoOffline(
  account: LocalAccount,
  fields: { chainId: number; calls: readonly { to: Address; data: Hex; value?: bigint }[] },
): Promise<Hex> {
  const tx = { ...fields, gas: gasLimits.call, nonce: 0, nonceKey: 0n, feeToken: pathUsdAddress, ...zeroFees }
  return account.signTransaction(tx as never, { serializer: Transaction.serialize as never })
}

const approveData = (spender: Address, amount: bigint) =>
  encodeFunctionData({ abi: tip20Abi, functionName: 'approve', args: [spender, amount] })
const openData = (payeeAddress: Address, token: Address, deposit: bigint, salt: Hex, signer: Address = zeroAddress) =>
  encodeFunctionData({ abi: escrowAbi, functionName: 'open', args: [payeeAddress, token, deposit, salt, signer] })
const topUpData = (channelId: Hex, amount: bigint) =>
  encodeFunctionData({ abi: escrowAbi, functionName: 'topUp', args: [channelId, amount] })

/** A TCP server that accepts connections and never answers. */
async function silentServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** Timings, printed at the end and reported. */
const timings = new Map<string, number[]>()
async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const start = performance.now()
  try {
    return await work()
  } finally {
    timings.set(label, [...(timings.get(label) ?? []), performance.now() - start])
  }
}

describe('tempoChain / evmChain', () => {
  it('build viem chain objects for an RPC URL', () => {
    const tempo = tempoChain({ id: 4217, rpcUrl: 'http://rpc.example', feeToken: '0x20C0000000000000000000000000000000000001' })
    expect(tempo.id).toBe(4217)
    expect(tempo.rpcUrls.default.http).toEqual(['http://rpc.example'])
    expect((tempo as { feeToken?: unknown }).feeToken).toBe(alphaUsd)
    expect(tempo.serializers?.transaction).toBe(tempoChain({ id: 1, rpcUrl: 'x' }).serializers?.transaction)
    expect('feeToken' in tempoChain({ id: 1, rpcUrl: 'x' })).toBe(false)
    const evm = evmChain({ id: 1, rpcUrl: 'http://rpc.example' })
    expect(evm.id).toBe(1)
    expect(evm.serializers).toBeUndefined()
  })
})

describe('viemEscrow on a Tempo-mode anvil', () => {
  let anvil: Anvil
  let escrowAddress: Address
  let payerClient: TestClient
  /** The payer sending type-2 transactions to the same Tempo anvil. */
  let payer1559: TestClient
  let strangerClient: TestClient
  let escrow: Escrow
  let readOnly: Escrow

  const options = (overrides: Partial<ViemEscrowOptions> = {}): ViemEscrowOptions =>
    ({
      address: escrowAddress,
      chain: anvil.chain,
      rpcUrl: anvil.rpcUrl,
      fees: zeroFees,
      pollingIntervalMs: 10,
      timeoutMs: 10_000,
      ...overrides,
    }) as ViemEscrowOptions

  beforeAll(async () => {
    anvil = await startAnvil()
    escrowAddress = await deployEscrow(testClient(anvil, deployerAccount))
    payerClient = testClient(anvil, payerAccount)
    payer1559 = testClient({ rpcUrl: anvil.rpcUrl, chain: evmChain({ id: anvilChainId, rpcUrl: anvil.rpcUrl }) }, payerAccount)
    strangerClient = testClient(anvil, strangerAccount)
    escrow = viemEscrow({ ...options(), payee: payeeAccount })
    readOnly = viemEscrow(options())
  })
  afterAll(async () => {
    await anvil?.stop()
    const rows = [...timings].map(([label, ms]) => {
      const sorted = [...ms].sort((a, b) => a - b)
      return `${label}: n=${ms.length} median=${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms max=${sorted.at(-1)!.toFixed(1)} ms`
    })
    console.log(`viem-escrow timings on anvil:\n  ${rows.join('\n  ')}`)
  })

  /** Opens a channel from the payer through the adapter (decode + broadcast). */
  async function openChannel(deposit: bigint, signer: Address = zeroAddress) {
    const salt = nextSalt()
    const raw = await signTempo(payerClient, [
      { to: pathUsdAddress, data: approveData(escrowAddress, deposit) },
      { to: escrowAddress, data: openData(payee, pathUsdAddress, deposit, salt, signer) },
    ])
    const call = await escrow.decodeTransaction(raw)
    if (call.kind !== 'open') throw new Error('expected an open')
    const { txHash } = await timed('broadcast (0x76 approve+open)', () => escrow.broadcast(raw))
    return { channelId: call.channelId, salt, txHash, raw }
  }

  function signVoucher(channelId: Hex, cumulativeAmount: bigint, signer: LocalAccount = payerAccount) {
    return signer.signTypedData({
      domain: { name: 'Tempo Stream Channel', version: '1', chainId: anvilChainId, verifyingContract: escrowAddress },
      types: voucherTypes,
      primaryType: 'Voucher',
      message: { channelId, cumulativeAmount },
    })
  }

  const balances = async () => ({
    payer: await pathUsdBalance(payerClient, payer),
    payee: await pathUsdBalance(payerClient, payee),
    escrow: await pathUsdBalance(payerClient, escrowAddress),
  })

  describe('decodeTransaction', () => {
    it('decodes a 0x76 approve + open; channelId equals the contract computeChannelId', async () => {
      const salt = nextSalt()
      const delegate = strangerAccount.address
      const raw = await signTempo(payerClient, [
        { to: pathUsdAddress, data: approveData(escrowAddress, 5_000n) },
        { to: escrowAddress, data: openData(payeeAccount.address, pathUsdAddress, 5_000n, salt, delegate) },
      ])
      expect(raw.slice(0, 4)).toBe('0x76')
      const call = await escrow.decodeTransaction(raw)
      const onChainId = await payerClient.readContract({
        address: escrowAddress,
        abi: escrowAbi,
        functionName: 'computeChannelId',
        args: [payer, payee, pathUsdAddress, salt, delegate],
      })
      expect(call).toEqual({
        kind: 'open',
        payer,
        payee,
        token: pathUsdAddress,
        deposit: 5_000n,
        salt,
        authorizedSigner: delegate.toLowerCase(),
        channelId: onChainId,
      })
      // The escrow address may be configured in any case.
      const upper = await decodeEscrowTransaction(raw, {
        escrow: escrowAddress.toUpperCase().replace('0X', '0x') as Address,
        chainId: anvilChainId,
      })
      expect(upper).toEqual(call)
    })

    it('decodes a 0x76 open without approve and a 0x76 topUp', async () => {
      const salt = nextSalt()
      const open = await escrow.decodeTransaction(
        await signTempo(payerClient, [{ to: escrowAddress, data: openData(payee, pathUsdAddress, 7n, salt) }]),
      )
      expect(open).toMatchObject({ kind: 'open', payer, deposit: 7n, authorizedSigner: zeroAddress })
      const channelId = keccak256('0x01')
      const topUp = await escrow.decodeTransaction(await signTempo(payerClient, [{ to: escrowAddress, data: topUpData(channelId, 9n) }]))
      expect(topUp).toEqual({ kind: 'topUp', sender: payer, channelId, additionalDeposit: 9n })
    })

    it('decodes a topUp of up to 2^128-1 (its argument is a uint256) and rejects 0 and more', async () => {
      const channelId = keccak256('0x01')
      const sign = (amount: bigint) => signTempo(payerClient, [{ to: escrowAddress, data: topUpData(channelId, amount) }])
      expect(await escrow.decodeTransaction(await sign(maxUint128))).toMatchObject({ kind: 'topUp', additionalDeposit: maxUint128 })
      for (const amount of [0n, maxUint128 + 1n, maxUint256]) {
        const err = await expectPaymentError(escrow.decodeTransaction(await sign(amount)), 'mpp_payment_verification_failed')
        expect(err.detail, String(amount)).toMatch(/topUp amount must be between 1 and 2\^128-1/)
      }
    })

    it('a 0x76 topUp may approve the channel token first; only then is the channel read', async () => {
      const { channelId } = await openChannel(20_000n)
      const topUp = { to: escrowAddress, data: topUpData(channelId, 3_000n) }
      const raw = await signTempo(payerClient, [{ to: pathUsdAddress, data: approveData(escrowAddress, 3_000n) }, topUp])
      // Pure decoding cannot know the channel's token, so it refuses.
      const pure = await expectPaymentError(
        decodeEscrowTransaction(raw, { escrow: escrowAddress, chainId: anvilChainId }),
        'mpp_payment_verification_failed',
      )
      expect(pure.detail).toMatch(/only the escrow topUp call/)
      // The adapter reads the channel's token.
      expect(await escrow.decodeTransaction(raw)).toEqual({ kind: 'topUp', sender: payer, channelId, additionalDeposit: 3_000n })
      await escrow.broadcast(raw)
      expect((await readOnly.getChannel(channelId))?.deposit).toBe(23_000n)

      const wrongToken = await signTempo(payerClient, [{ to: alphaUsd, data: approveData(escrowAddress, 3_000n) }, topUp])
      expect((await expectPaymentError(escrow.decodeTransaction(wrongToken), 'mpp_payment_verification_failed')).detail).toMatch(
        /must be on the channel token/,
      )
      const after = await signTempo(payerClient, [topUp, { to: pathUsdAddress, data: approveData(escrowAddress, 3_000n) }])
      expect((await expectPaymentError(escrow.decodeTransaction(after), 'mpp_payment_verification_failed')).detail).toMatch(
        /before the topUp/,
      )
      const unknown = await signTempo(payerClient, [
        { to: pathUsdAddress, data: approveData(escrowAddress, 1n) },
        { to: escrowAddress, data: topUpData(keccak256('0x05'), 1n) },
      ])
      await expectPaymentError(escrow.decodeTransaction(unknown), 'mpp_channel_not_found')
    })

    it('decodes an EIP-1559 open and topUp, recovering the sender', async () => {
      const salt = nextSalt()
      const rawOpen = await signEip1559(payer1559, escrowAddress, openData(payee, pathUsdAddress, 1_234n, salt))
      expect(rawOpen.slice(0, 4)).toBe('0x02')
      const open = await escrow.decodeTransaction(rawOpen)
      expect(open).toEqual({
        kind: 'open',
        payer,
        payee,
        token: pathUsdAddress,
        deposit: 1_234n,
        salt,
        authorizedSigner: zeroAddress,
        channelId: computeChannelId({
          payer,
          payee,
          token: pathUsdAddress,
          salt,
          authorizedSigner: zeroAddress,
          escrow: escrowAddress,
          chainId: anvilChainId,
        }),
      })
      const channelId = keccak256('0x02')
      const topUp = await escrow.decodeTransaction(await signEip1559(payer1559, escrowAddress, topUpData(channelId, 55n)))
      expect(topUp).toEqual({ kind: 'topUp', sender: payer, channelId, additionalDeposit: 55n })
    })

    it('rejects calls that are not one open/topUp on this escrow', async () => {
      const salt = nextSalt()
      const open = { to: escrowAddress, data: openData(payee, pathUsdAddress, 100n, salt) }
      const approve = { to: pathUsdAddress, data: approveData(escrowAddress, 100n) }
      const cases: [string, Promise<Hex>, RegExp][] = [
        [
          'a call to another contract (0x76)',
          signTempo(payerClient, [{ to: pathUsdAddress, data: approveData(escrowAddress, 1n) }]),
          /does not call the escrow/,
        ],
        [
          'a call to another contract (EIP-1559)',
          signEip1559(payer1559, pathUsdAddress, approveData(escrowAddress, 1n)),
          /does not call the escrow/,
        ],
        [
          'another escrow function',
          signTempo(payerClient, [
            {
              to: escrowAddress,
              data: encodeFunctionData({ abi: escrowAbi, functionName: 'settle', args: [keccak256('0x03'), 1n, '0x'] }),
            },
          ]),
          /calls settle on the escrow; only open or topUp/,
        ],
        [
          'a view function of the escrow',
          signEip1559(payer1559, escrowAddress, encodeFunctionData({ abi: escrowAbi, functionName: 'domainSeparator' })),
          /only open or topUp/,
        ],
        [
          'two escrow calls',
          signTempo(payerClient, [approve, open, { to: escrowAddress, data: topUpData(keccak256('0x04'), 1n) }]),
          /exactly once/,
        ],
        [
          'an approve to another spender',
          signTempo(payerClient, [{ to: pathUsdAddress, data: approveData(strangerAccount.address, 100n) }, open]),
          /must approve the escrow/,
        ],
        [
          'an approve on another token',
          signTempo(payerClient, [{ to: alphaUsd, data: approveData(escrowAddress, 100n) }, open]),
          /must be on the channel token/,
        ],
        [
          'a token call that is not approve',
          signTempo(payerClient, [
            { to: pathUsdAddress, data: encodeFunctionData({ abi: tip20Abi, functionName: 'transfer', args: [payee, 1n] }) },
            open,
          ]),
          /must be approve; it is transfer/,
        ],
        ['an approve after the open', signTempo(payerClient, [open, approve]), /before the open/],
        ['two approves', signTempo(payerClient, [approve, approve, open]), /at most one approve/],
        ['undecodable escrow calldata', signTempo(payerClient, [{ to: escrowAddress, data: '0xdeadbeef' }]), /could not be decoded/],
        ['native value', signEip1559(payer1559, escrowAddress, open.data, 1n), /native value/],
        [
          'a foreign chain id (0x76)',
          signTempoOffline(payerAccount, { chainId: 4217, calls: [approve, open] }),
          /chain 4217; this escrow is on chain 31337/,
        ],
        [
          'a foreign chain id (EIP-1559)',
          payerAccount.signTransaction({
            chainId: 1,
            to: escrowAddress,
            data: open.data,
            gas: 100_000n,
            nonce: 0,
            ...zeroFees,
            type: 'eip1559',
          }),
          /chain 1; this escrow is on chain 31337/,
        ],
      ]
      for (const [label, raw, detail] of cases) {
        const err = await expectPaymentError(escrow.decodeTransaction(await raw), 'mpp_payment_verification_failed')
        expect(err.detail, label).toMatch(detail)
      }
    })

    it('rejects garbage, unsigned and unsupported transaction types without quoting them', async () => {
      const unsignedTempo = await Transaction.serialize({
        chainId: anvilChainId,
        calls: [{ to: escrowAddress, data: openData(payee, pathUsdAddress, 1n, nextSalt()) }],
        gas: gasLimits.call,
        nonce: 0,
        feeToken: pathUsdAddress,
        type: 'tempo',
      } as never)
      const unsigned1559 = serializeTransaction({
        chainId: anvilChainId,
        to: escrowAddress,
        data: openData(payee, pathUsdAddress, 1n, nextSalt()),
        gas: 1n,
        nonce: 0,
        ...zeroFees,
        type: 'eip1559',
      })
      const legacy = await payerAccount.signTransaction({
        chainId: anvilChainId,
        to: escrowAddress,
        data: '0x',
        gas: 21_000n,
        gasPrice: 0n,
        nonce: 0,
        type: 'legacy',
      })
      const cases: [string, RegExp][] = [
        ['0x', /0x-prefixed hex/],
        ['0x7', /0x-prefixed hex/],
        ['hello', /0x-prefixed hex/],
        ['0xdeadbeef', /Only Tempo \(0x76\) and EIP-1559/],
        ['0x76', /could not be decoded/],
        ['0x76c0', /could not be decoded/],
        ['0x76deadbeef', /could not be decoded/],
        ['0x02c0', /could not be decoded/],
        ['0x02f8ff00', /could not be decoded/],
        [`0x76${'00'.repeat(20_000)}`, /exceeds 16384 bytes/],
        [unsignedTempo, /not signed/],
        [unsigned1559, /not signed/],
        [legacy, /Only Tempo/],
      ]
      for (const [raw, detail] of cases) {
        const err = await expectPaymentError(escrow.decodeTransaction(raw as Hex), 'mpp_payment_verification_failed')
        expect(err.detail, raw.slice(0, 20)).toMatch(detail)
        if (raw.length > 20) expect(err.detail).not.toContain(raw.slice(2, 40))
      }
    })

    it('binds the payer to the signature: tampered signatures are rejected or recover someone else', async () => {
      const salt = nextSalt()
      const raw = await signTempo(payerClient, [
        { to: pathUsdAddress, data: approveData(escrowAddress, 100n) },
        { to: escrowAddress, data: openData(payee, pathUsdAddress, 100n, salt) },
      ])
      const envelope = Transaction.z_TxEnvelopeTempo.deserialize(raw as `0x76${string}`)
      const original = envelope.signature!
      if (original.type !== 'secp256k1') throw new Error('expected a secp256k1 signature')
      const withSignature = (r: bigint, s: bigint, yParity: number) =>
        Transaction.z_TxEnvelopeTempo.serialize({ ...envelope, signature: { type: 'secp256k1', signature: { r, s, yParity } } })
      const { r, s, yParity } = original.signature

      // Sanity: re-serializing the untouched signature round-trips.
      expect(withSignature(r, s, yParity)).toBe(raw)

      // An r that is no curve point's x coordinate: nothing can be recovered.
      let offCurve = 1n
      for (; ; offCurve++) {
        const ok = await recoverAddress({
          hash: keccak256('0x'),
          signature: { r: numberToHex(offCurve, { size: 32 }), s: numberToHex(1n, { size: 32 }), yParity: 0 },
        }).then(
          () => true,
          () => false,
        )
        if (!ok) break
      }
      const noPoint = await expectPaymentError(
        escrow.decodeTransaction(withSignature(offCurve, s, yParity)),
        'mpp_payment_verification_failed',
      )
      expect(noPoint.detail).toMatch(/signature is invalid/)
      // The high-s twin recovers the same key, but is not canonical.
      const twin = await expectPaymentError(
        escrow.decodeTransaction(withSignature(r, SECP256K1_N - s, 1 - yParity)),
        'mpp_payment_verification_failed',
      )
      expect(twin.detail).toMatch(/canonical low-s/)
      // Zero / out-of-range scalars.
      await expectPaymentError(escrow.decodeTransaction(withSignature(0n, s, yParity)), 'mpp_payment_verification_failed')
      await expectPaymentError(escrow.decodeTransaction(withSignature(SECP256K1_N, s, yParity)), 'mpp_payment_verification_failed')

      // A flipped parity (or any other valid-looking change) recovers a different
      // key: offline that is just "someone else", whose channel id the client
      // did not compute and whose channel will not exist.
      const other = await escrow.decodeTransaction(withSignature(r, s, 1 - yParity))
      expect(other.kind === 'open' && other.payer).not.toBe(payer)
      const real = await escrow.decodeTransaction(raw)
      expect(other.kind === 'open' && real.kind === 'open' && other.channelId !== real.channelId).toBe(true)

      // Same for an EIP-1559 transaction.
      const raw1559 = await signEip1559(payer1559, escrowAddress, openData(payee, pathUsdAddress, 100n, salt))
      const parsed = parseTransaction(raw1559)
      const { r: r2, s: s2, yParity: v2, ...fields } = parsed
      const reSigned = (sig: { r: Hex; s: Hex; yParity: number }) => serializeTransaction(fields as never, sig)
      expect(reSigned({ r: r2!, s: s2!, yParity: v2! })).toBe(raw1559)
      await expectPaymentError(
        escrow.decodeTransaction(reSigned({ r: r2!, s: numberToHex(SECP256K1_N - BigInt(s2!), { size: 32 }), yParity: 1 - v2! })),
        'mpp_payment_verification_failed',
      )
      await expectPaymentError(
        escrow.decodeTransaction(reSigned({ r: numberToHex(offCurve, { size: 32 }), s: s2!, yParity: v2! })),
        'mpp_payment_verification_failed',
      )
      const flipped = await escrow.decodeTransaction(reSigned({ r: r2!, s: s2!, yParity: 1 - v2! }))
      expect(flipped.kind === 'open' && flipped.payer).not.toBe(payer)
    })

    it('does not trust the sender Transaction.deserialize reads from the fee-payer slot', async () => {
      // A client can put any address in the fee-payer slot ("format: feePayer",
      // meant for a sponsor); `Transaction.deserialize` then reports it as `from`.
      const raw = await signTempo(payerClient, [{ to: escrowAddress, data: openData(payee, pathUsdAddress, 1n, nextSalt()) }])
      const envelope = Transaction.z_TxEnvelopeTempo.deserialize(raw as `0x76${string}`)
      // (ox's types only allow `sender` with `format: 'feePayer'`; the serializer takes it alone and writes a 0x76.)
      const spoofed = Transaction.z_TxEnvelopeTempo.serialize(envelope, { sender: strangerAccount.address } as never)
      expect(spoofed.slice(0, 4)).toBe('0x76')
      const deserialized = Transaction.deserialize(spoofed as `0x76${string}`)
      expect(deserialized.from?.toLowerCase()).toBe(strangerAccount.address.toLowerCase())
      expect(deserialized.signature?.type).toBe('secp256k1')
      const err = await expectPaymentError(escrow.decodeTransaction(spoofed), 'mpp_payment_verification_failed')
      expect(err.detail).toMatch(/does not sponsor fees/)
      // The sponsor's own envelope (0x78) is not a transaction to broadcast.
      const forSponsor = Transaction.z_TxEnvelopeTempo.serialize(envelope, { format: 'feePayer', sender: strangerAccount.address })
      expect(forSponsor.slice(0, 4)).toBe('0x78')
      expect((await expectPaymentError(escrow.decodeTransaction(forSponsor), 'mpp_payment_verification_failed')).detail).toMatch(
        /Only Tempo/,
      )
    })
  })

  describe('broadcast and getChannel', () => {
    it('broadcasts a 0x76 open and reads the channel back', async () => {
      const before = await balances()
      const { channelId, raw, txHash } = await openChannel(250_000n, strangerAccount.address)
      expect(txHash).toBe(keccak256(raw))
      const receipt = await payerClient.getTransactionReceipt({ hash: txHash })
      expect(receipt.status).toBe('success')
      const channel = await timed('getChannel', () => readOnly.getChannel(channelId))
      expect(channel).toEqual({
        payer,
        payee,
        token: pathUsdAddress,
        authorizedSigner: strangerAccount.address.toLowerCase(),
        deposit: 250_000n,
        settled: 0n,
        closeRequestedAt: 0n,
        finalized: false,
      })
      const after = await balances()
      expect(before.payer - after.payer).toBe(250_000n)
      expect(after.escrow - before.escrow).toBe(250_000n)
      for (let i = 0; i < 20; i++) await timed('getChannel', () => readOnly.getChannel(channelId))

      // Broadcasting the same transaction again (a client retry) returns the
      // same outcome instead of failing on the used nonce.
      expect(await escrow.broadcast(raw)).toEqual({ txHash })
      expect((await readOnly.getChannel(channelId))?.deposit).toBe(250_000n)
    })

    it('getChannel returns undefined for an unknown or malformed id', async () => {
      expect(await readOnly.getChannel(keccak256('0x1234'))).toBeUndefined()
      expect(await readOnly.getChannel('0x1234')).toBeUndefined()
      expect(readOnly.address).toBe(escrowAddress)
      expect(readOnly.chainId).toBe(anvilChainId)
    })

    it('broadcasts an EIP-1559 topUp', async () => {
      const { channelId } = await openChannel(10_000n)
      await expectSuccess(
        payer1559,
        await payer1559.writeContract({
          address: pathUsdAddress,
          abi: tip20Abi,
          functionName: 'approve',
          args: [escrowAddress, 5_000n],
          gas: gasLimits.call,
          ...zeroFees,
        }),
      )
      const raw = await signEip1559(payer1559, escrowAddress, topUpData(channelId, 5_000n))
      expect(await escrow.decodeTransaction(raw)).toMatchObject({ kind: 'topUp', channelId, additionalDeposit: 5_000n })
      const { txHash } = await timed('broadcast (EIP-1559 topUp)', () => escrow.broadcast(raw))
      expect(txHash).toBe(keccak256(raw))
      expect((await readOnly.getChannel(channelId))?.deposit).toBe(15_000n)
      // A retry: anvil now refuses it ("nonce too low"); the receipt under its hash decides.
      expect(await escrow.broadcast(raw)).toEqual({ txHash })
      expect((await readOnly.getChannel(channelId))?.deposit).toBe(15_000n)
    })

    it('a transaction that reverts on chain all the same (the state changed after its preflight) is rejected', async () => {
      // The preflight refuses a transaction that would revert now (test/escrow/preflight.int.test.ts); this
      // one would not, until the same sender opens the same channel (same salt) on another nonce lane just
      // before it is sent.
      const salt = nextSalt()
      const open = [
        { to: pathUsdAddress, data: approveData(escrowAddress, 1_000n) },
        { to: escrowAddress, data: openData(payee, pathUsdAddress, 1_000n, salt) },
      ]
      const raw = await signTempo(strangerClient, open)
      const first = await strangerClient.signTransaction(
        (await strangerClient.prepareTransactionRequest({
          calls: open,
          gas: gasLimits.call,
          nonceKey: 5n,
          nonce: 0,
          ...zeroFees,
        } as never)) as never,
      )
      const upstream = createPublicClient({ transport: http(anvil.rpcUrl) })
      const racing = viemEscrow({
        ...options(),
        rpcUrl: undefined,
        transport: custom({
          async request({ method, params }) {
            if (method === 'eth_sendRawTransaction') await upstream.request({ method, params: [first] })
            return upstream.request({ method, params } as never)
          },
        }),
      })
      const err = await expectPaymentError(racing.broadcast(raw), 'mpp_payment_verification_failed')
      expect(err.detail).toMatch(/reverted on chain/)
      expect(err.extensions.txHash).toBe(keccak256(raw))
      expect((await strangerClient.getTransactionReceipt({ hash: keccak256(raw) })).status).toBe('reverted')
      expect((await strangerClient.getTransactionReceipt({ hash: keccak256(first) })).status).toBe('success')
    })

    it('a transaction the node refuses is rejected with mpp_payment_verification_failed', async () => {
      // A gas limit above the block's: nothing the preflight checks, refused at submission, never mined.
      const request = await payerClient.prepareTransactionRequest({
        calls: [
          { to: pathUsdAddress, data: approveData(escrowAddress, 1n) },
          { to: escrowAddress, data: openData(payee, pathUsdAddress, 1n, nextSalt()) },
        ],
        gas: 40_000_000n,
        ...zeroFees,
      } as never)
      const raw = await payerClient.signTransaction(request as never)
      const err = await expectPaymentError(escrow.broadcast(raw), 'mpp_payment_verification_failed')
      expect(err.detail).toMatch(/refused/)
      expect(err.detail.length).toBeLessThan(240)
    })
  })

  describe('settle and close', () => {
    it('settle and close with the payee key move exactly the voucher amounts', async () => {
      const { channelId } = await openChannel(1_000_000n)
      const start = await balances()

      const settled = await timed('settle', async () => escrow.settle(channelId, 300_000n, await signVoucher(channelId, 300_000n)))
      expect((await payerClient.getTransactionReceipt({ hash: settled.txHash })).status).toBe('success')
      const mid = await balances()
      expect(mid.payee - start.payee).toBe(300_000n)
      expect(start.escrow - mid.escrow).toBe(300_000n)
      expect(mid.payer).toBe(start.payer)
      expect((await readOnly.getChannel(channelId))?.settled).toBe(300_000n)

      await timed('close', async () => escrow.close(channelId, 700_000n, await signVoucher(channelId, 700_000n)))
      const end = await balances()
      expect(end.payee - mid.payee).toBe(400_000n)
      expect(end.payer - mid.payer).toBe(300_000n)
      expect(mid.escrow - end.escrow).toBe(700_000n)
      // The escrow deletes a closed channel and keeps only `finalized` (as deployed): not `undefined`.
      expect(await readOnly.getChannel(channelId)).toEqual({
        payer: zeroAddress,
        payee: zeroAddress,
        token: zeroAddress,
        authorizedSigner: zeroAddress,
        deposit: 0n,
        settled: 0n,
        closeRequestedAt: 0n,
        finalized: true,
      })
    })

    it('settles concurrently without nonce collisions', async () => {
      // Opened one after the other: the payer's own transactions share its nonce.
      const a = await openChannel(1_000n)
      const b = await openChannel(1_000n)
      const before = await balances()
      const [va100, vb200, va150] = [
        await signVoucher(a.channelId, 100n),
        await signVoucher(b.channelId, 200n),
        await signVoucher(a.channelId, 150n),
      ]
      // Started together; the adapter sends them one at a time, in call order.
      const results = await Promise.all([
        escrow.settle(a.channelId, 100n, va100),
        escrow.settle(b.channelId, 200n, vb200),
        escrow.settle(a.channelId, 150n, va150),
      ])
      expect(new Set(results.map((r) => r.txHash)).size).toBe(3)
      expect((await balances()).payee - before.payee).toBe(350n)
      expect((await readOnly.getChannel(a.channelId))?.settled).toBe(150n)
      expect((await readOnly.getChannel(b.channelId))?.settled).toBe(200n)
    })

    it('without a payee key, settle and close are unavailable', async () => {
      expect(readOnly.canSubmit).toBe(false)
      expect(escrow.canSubmit).toBe(true)
      const id = keccak256('0x06')
      const err = await expectPaymentError(readOnly.close(id, 1n, '0x'), 'mpp_session_close_unavailable')
      expect(err.detail).toMatch(/no payee key/)
      await expectPaymentError(readOnly.settle(id, 1n, '0x'), 'mpp_session_close_unavailable')
    })

    it('a bad voucher is rejected before anything is sent', async () => {
      const { channelId } = await openChannel(50_000n)
      const blockBefore = await payerClient.getBlockNumber()
      const nonceBefore = await payerClient.getTransactionCount({ address: payee })
      const unknownId = keccak256('0x07')
      const cases: [() => Promise<unknown>, RegExp][] = [
        [async () => escrow.close(channelId, 10_000n, await signVoucher(channelId, 10_000n, strangerAccount)), /signature is not valid/],
        [async () => escrow.settle(channelId, 10_000n, await signVoucher(channelId, 9_999n)), /signature is not valid/],
        [async () => escrow.close(channelId, 60_000n, await signVoucher(channelId, 60_000n)), /exceeds the channel deposit/],
        [async () => escrow.settle(unknownId, 1n, await signVoucher(unknownId, 1n)), /does not exist/],
        [() => escrow.close(channelId, 1n, '0x1234'), /signature is not valid/],
        [() => escrow.close('0x12', 1n, '0x'), /malformed/],
        [() => escrow.close(channelId, -1n, '0x'), /malformed/],
      ]
      for (const [attempt, detail] of cases) {
        const err = await expectPaymentError(attempt(), 'mpp_session_close_failed')
        expect(err.detail).toMatch(detail)
      }
      // A payee key that is not the channel's payee.
      const wrongPayee = viemEscrow({ ...options(), payee: strangerAccount })
      const err = await expectPaymentError(wrongPayee.close(channelId, 1n, await signVoucher(channelId, 1n)), 'mpp_session_close_failed')
      expect(err.detail).toMatch(/not this channel's payee/)

      expect(await payerClient.getBlockNumber()).toBe(blockBefore)
      expect(await payerClient.getTransactionCount({ address: payee })).toBe(nonceBefore)
      expect(await readOnly.getChannel(channelId)).toMatchObject({ settled: 0n, finalized: false })
    })

    it('close of a finalized channel fails with a clear detail', async () => {
      const { channelId } = await openChannel(5_000n)
      await escrow.close(channelId, 1_000n, await signVoucher(channelId, 1_000n))
      const err = await expectPaymentError(
        escrow.close(channelId, 2_000n, await signVoucher(channelId, 2_000n)),
        'mpp_session_close_failed',
      )
      expect(err.detail).toMatch(/already closed/)
    })
  })

  describe('an unreachable or silent RPC', () => {
    it('a closed port gives mpp_chain_unavailable for every call', async () => {
      const url = `http://127.0.0.1:${await closedPort()}`
      const down = viemEscrow({ ...options({ rpcUrl: url }), payee: payeeAccount })
      const raw = await signTempo(payerClient, [{ to: escrowAddress, data: openData(payee, pathUsdAddress, 1n, nextSalt()) }])
      await expectPaymentError(down.getChannel(keccak256('0x08')), 'mpp_chain_unavailable')
      const err = await expectPaymentError(down.broadcast(raw), 'mpp_chain_unavailable')
      expect(err.extensions.txHash).toBe(keccak256(raw))
      expect(err.retryAfter).toBe(2)
      await expectPaymentError(down.close(keccak256('0x08'), 1n, '0x'), 'mpp_chain_unavailable')
      await expectPaymentError(down.settle(keccak256('0x08'), 1n, '0x'), 'mpp_chain_unavailable')
      // Decoding needs no RPC.
      expect((await down.decodeTransaction(raw)).kind).toBe('open')
    })

    it('an RPC that never answers times out into mpp_chain_unavailable', async () => {
      const silent = await silentServer()
      try {
        const stuck = viemEscrow({ ...options({ rpcUrl: silent.url, timeoutMs: 300 }), payee: payeeAccount })
        const raw = await signTempo(payerClient, [{ to: escrowAddress, data: openData(payee, pathUsdAddress, 1n, nextSalt()) }])
        for (const [label, call] of [
          ['getChannel', () => stuck.getChannel(keccak256('0x09'))],
          ['broadcast', () => stuck.broadcast(raw)],
          ['close', () => stuck.close(keccak256('0x09'), 1n, '0x')],
        ] as const) {
          const start = performance.now()
          await expectPaymentError(call(), 'mpp_chain_unavailable')
          const elapsed = performance.now() - start
          expect(elapsed, label).toBeGreaterThanOrEqual(250)
          expect(elapsed, label).toBeLessThan(3_000)
        }
      } finally {
        await silent.stop()
      }
    })

    it("a custom transport that never settles is cut off by the adapter's own deadline", async () => {
      const hanging = viemEscrow({
        ...options({ timeoutMs: 200 }),
        rpcUrl: undefined,
        transport: custom({ request: () => new Promise(() => undefined) }),
      })
      const start = performance.now()
      const err = await expectPaymentError(hanging.getChannel(keccak256('0x0a')), 'mpp_chain_unavailable')
      expect(performance.now() - start).toBeLessThan(2_000)
      expect(err.detail).not.toMatch(/http|127\.0\.0\.1/)
    })
  })
})

describe('viemEscrow on a standard (non-Tempo) anvil', () => {
  let plain: Anvil
  beforeAll(async () => {
    plain = await startAnvil({ tempo: false })
  })
  afterAll(async () => {
    await plain?.stop()
  })

  it('decodes, broadcasts, settles and closes over EIP-1559 with the test ERC-20', async () => {
    const deployer = testClient(plain, deployerAccount)
    const p = testClient(plain, payerAccount)
    const token = await deployTestToken(deployer)
    const escrowAddress = await deployEscrow(deployer)
    await mintTestToken(deployer, token, payer, 1_000n)
    const escrow = viemEscrow({
      address: escrowAddress,
      chain: evmChain({ id: anvilChainId, rpcUrl: plain.rpcUrl }),
      rpcUrl: plain.rpcUrl,
      payee: payeeAccount,
      fees: zeroFees,
      pollingIntervalMs: 10,
    })

    await expectSuccess(
      p,
      await p.writeContract({
        address: token,
        abi: testTokenAbi,
        functionName: 'approve',
        args: [escrowAddress, 1_000n],
        gas: gasLimits.call,
        ...zeroFees,
      }),
    )
    const salt = nextSalt()
    const raw = await signEip1559(p, escrowAddress, openData(payee, token, 1_000n, salt))
    const call = await escrow.decodeTransaction(raw)
    if (call.kind !== 'open') throw new Error('expected an open')
    expect(call.channelId).toBe(
      await p.readContract({
        address: escrowAddress,
        abi: escrowAbi,
        functionName: 'computeChannelId',
        args: [payer, payee, token, salt, zeroAddress],
      }),
    )
    await escrow.broadcast(raw)
    expect(await escrow.getChannel(call.channelId)).toMatchObject({ payer, payee, token, deposit: 1_000n })

    const voucher = (amount: bigint) =>
      payerAccount.signTypedData({
        domain: { name: 'Tempo Stream Channel', version: '1', chainId: anvilChainId, verifyingContract: escrowAddress },
        types: voucherTypes,
        primaryType: 'Voucher',
        message: { channelId: call.channelId, cumulativeAmount: amount },
      })
    const settled = await escrow.settle(call.channelId, 100n, await voucher(100n))
    expect((await p.getTransactionReceipt({ hash: settled.txHash })).type).toBe('eip1559')
    await escrow.close(call.channelId, 400n, await voucher(400n))
    const balance = (a: Address) => p.readContract({ address: token, abi: testTokenAbi, functionName: 'balanceOf', args: [a] })
    expect(await balance(payee)).toBe(400n)
    expect(await balance(payer)).toBe(600n)
    expect(await balance(escrowAddress)).toBe(0n)
  })
})
