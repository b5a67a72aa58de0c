// The project's v1 escrow (contracts-abi/escrow/StreamChannelEscrow.sol, the
// stand-in for the deployed TempoStreamChannel) against a real anvil in Tempo
// mode, driven through viem as the server will.
// Every write is simulated first (anvil does not reject reverting 0x76
// transactions up front) and sent with explicit gas and zero fees, so pathUSD
// balances can be asserted to the base unit.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import {
  type Address,
  BaseError,
  type ContractFunctionArgs,
  type ContractFunctionName,
  ContractFunctionRevertedError,
  concat,
  createTestClient,
  decodeEventLog,
  domainSeparator,
  encodeAbiParameters,
  encodeFunctionData,
  type Hex,
  hashTypedData,
  http,
  keccak256,
  maxUint128,
  maxUint256,
  numberToHex,
  pad,
  parseSignature,
  recoverTypedDataAddress,
  serializeCompactSignature,
  signatureToCompactSignature,
  toFunctionSelector,
  toHex,
  type TestClient as ViemTestClient,
  zeroAddress,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { foundry } from 'viem/chains'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { escrowAbi, escrowSourceSha256 } from '../../contracts-abi/escrow/artifact.js'
import { testTokenAbi } from '../../contracts-abi/escrow/test-token-artifact.js'
import { pathUsdAddress, tip20Abi } from '../../contracts-abi/tip20.js'
import { checkArtifacts } from '../../scripts/compile-contracts-lib.js'
import {
  type Anvil,
  deployEscrow,
  deployTestToken,
  expectSuccess,
  gasLimits,
  mintTestToken,
  pathUsdBalance,
  sendTempoCalls,
  startAnvil,
  type TestClient,
  testAccounts,
  testClient,
  zeroFees,
} from '../harness/local-chain.js'

/** Errors the deployed escrow reverts with that its ABI does not declare, and pathUSD's for a missing allowance. */
const undeclared = ['ZeroDeposit()', 'InvalidToken()', 'InsufficientAllowance()']

/** Tempo's fee manager, the recipient of every fee Transfer, as an indexed topic. */
const feeManagerTopic = pad('0xfeec000000000000000000000000000000000000')

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

const deployerAccount = testAccounts[0]!
const payerAccount = testAccounts[1]!
const payeeAccount = testAccounts[2]!
const strangerAccount = testAccounts[3]!
const payer = payerAccount.address.toLowerCase() as Address
const payee = payeeAccount.address.toLowerCase() as Address

/** Gas used per escrow call, printed at the end (and reported). */
const gasUsed = new Map<string, bigint[]>()
function recordGas(label: string, gas: bigint) {
  gasUsed.set(label, [...(gasUsed.get(label) ?? []), gas])
}

/**
 * The name of the custom error a simulated call reverted with; for an error
 * the escrow ABI does not declare (the deployed contract's ZeroDeposit and
 * InvalidToken, a token's own error), its signature `Name()` when it is one of
 * `undeclared`, else its 4-byte selector.
 */
async function revertName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err) {
    const reverted = err instanceof BaseError ? err.walk((e) => e instanceof ContractFunctionRevertedError) : null
    if (reverted instanceof ContractFunctionRevertedError && reverted.data?.errorName) return reverted.data.errorName
    if (reverted instanceof ContractFunctionRevertedError && reverted.signature) {
      return undeclared.find((signature) => toFunctionSelector(signature) === reverted.signature) ?? reverted.signature
    }
    throw err
  }
  throw new Error('expected the call to revert, it succeeded')
}

let anvil: Anvil
let payerClient: TestClient
let payeeClient: TestClient
let strangerClient: TestClient
let chainClient: ViemTestClient<'anvil'>
let escrow: Address
let chainId: number
let saltCounter = 0n

type EscrowWrite = ContractFunctionName<typeof escrowAbi, 'nonpayable'>
type EscrowArgs<F extends EscrowWrite> = ContractFunctionArgs<typeof escrowAbi, 'nonpayable', F>

/** Simulates (to surface custom errors), then sends with explicit gas and zero fees. */
async function write<F extends EscrowWrite>(client: TestClient, functionName: F, args: EscrowArgs<F>) {
  // viem cannot narrow its parameter types over a generic function name; the
  // signature above is what checks callers' arguments.
  const call = { address: escrow, abi: escrowAbi, functionName, args, account: client.account } as never
  await client.simulateContract(call)
  const hash = await client.writeContract({ ...(call as object), gas: gasLimits.call, ...zeroFees } as never)
  const receipt = await expectSuccess(client, hash)
  recordGas(functionName, receipt.gasUsed)
  return receipt
}

/** Simulates a write and returns the custom error it reverts with. */
function rejects<F extends EscrowWrite>(client: TestClient, functionName: F, args: EscrowArgs<F>) {
  const call = { address: escrow, abi: escrowAbi, functionName, args, account: client.account } as never
  return revertName(client.simulateContract(call))
}

function nextSalt(): Hex {
  saltCounter += 1n
  return numberToHex(saltCounter, { size: 32 })
}

function channelIdOf(p: Address, authorizedSigner: Address, salt: Hex): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: 'address' },
        { type: 'address' },
        { type: 'address' },
        { type: 'bytes32' },
        { type: 'address' },
        { type: 'address' },
        { type: 'uint256' },
      ],
      [p, payee, pathUsdAddress, salt, authorizedSigner, escrow, BigInt(chainId)],
    ),
  )
}

/** Opens a channel as the spec does: one 0x76 transaction, pathUSD approve then escrow open. */
async function openChannel(deposit: bigint, authorizedSigner: Address = zeroAddress) {
  const salt = nextSalt()
  const receipt = await sendTempoCalls(payerClient, [
    { to: pathUsdAddress, data: encodeFunctionData({ abi: tip20Abi, functionName: 'approve', args: [escrow, deposit] }) },
    {
      to: escrow,
      data: encodeFunctionData({
        abi: escrowAbi,
        functionName: 'open',
        args: [payee, pathUsdAddress, deposit, salt, authorizedSigner],
      }),
    },
  ])
  recordGas('approve+open (one 0x76)', receipt.gasUsed)
  return { channelId: channelIdOf(payer, authorizedSigner, salt), salt, receipt }
}

/** What `getChannel` reads for a closed channel: the deployed escrow deletes it and keeps only `finalized`. */
const tombstone = {
  finalized: true,
  closeRequestedAt: 0n,
  payer: zeroAddress,
  payee: zeroAddress,
  token: zeroAddress,
  authorizedSigner: zeroAddress,
  deposit: 0n,
  settled: 0n,
}

const voucherTypes = {
  Voucher: [
    { name: 'channelId', type: 'bytes32' },
    { name: 'cumulativeAmount', type: 'uint128' },
  ],
} as const

function domain() {
  return { name: 'Tempo Stream Channel', version: '1', chainId, verifyingContract: escrow } as const
}

function signVoucher(
  channelId: Hex,
  cumulativeAmount: bigint,
  signer: { signTypedData: typeof payerAccount.signTypedData } = payerAccount,
) {
  return signer.signTypedData({ domain: domain(), types: voucherTypes, primaryType: 'Voucher', message: { channelId, cumulativeAmount } })
}

/** The malleable twin of a signature: s' = n - s, v flipped. Same signer, different bytes. */
function highSTwin(signature: Hex): Hex {
  const { r, s, yParity } = parseSignature(signature)
  const sTwin = SECP256K1_N - BigInt(s)
  return concat([r, numberToHex(sTwin, { size: 32 }), numberToHex(yParity === 0 ? 28 : 27, { size: 1 })])
}

async function getChannel(channelId: Hex) {
  return payerClient.readContract({ address: escrow, abi: escrowAbi, functionName: 'getChannel', args: [channelId] })
}

async function balances() {
  const [p, q, e] = await Promise.all([
    pathUsdBalance(payerClient, payer),
    pathUsdBalance(payerClient, payee),
    pathUsdBalance(payerClient, escrow),
  ])
  return { payer: p, payee: q, escrow: e }
}

function decodeEscrowLogs(logs: readonly { address: Address; data: Hex; topics: readonly Hex[] }[]) {
  return logs
    .filter((l) => l.address.toLowerCase() === escrow)
    .map((l) => decodeEventLog({ abi: escrowAbi, data: l.data, topics: l.topics as [Hex, ...Hex[]] }))
}

beforeAll(async () => {
  anvil = await startAnvil({ tempo: true })
  const deployer = testClient(anvil, deployerAccount)
  payerClient = testClient(anvil, payerAccount)
  payeeClient = testClient(anvil, payeeAccount)
  strangerClient = testClient(anvil, strangerAccount)
  chainClient = createTestClient({ mode: 'anvil', chain: anvil.chain, transport: http(anvil.rpcUrl) })
  chainId = await deployer.getChainId()
  const deployed = performance.now()
  escrow = await deployEscrow(deployer)
  // deployEscrow returns only the address; its transaction is the latest block's only one.
  const receipt = await deployer.getTransactionReceipt({
    hash: (await deployer.getBlock({ includeTransactions: true })).transactions[0]!.hash,
  })
  recordGas('deploy', receipt.gasUsed)
  console.log(`anvil (tempo) started in ${anvil.startMs.toFixed(0)} ms; escrow deployed in ${(performance.now() - deployed).toFixed(0)} ms`)
})

afterAll(async () => {
  await anvil?.stop()
  const lines = [...gasUsed].map(([label, gas]) => `  ${label}: ${[...new Set(gas)].join(', ')}`)
  console.log(`gas used (Tempo mode):\n${lines.join('\n')}`)
})

describe('escrow contract (anvil, Tempo mode)', () => {
  it('exposes the spec constants and its EIP-712 domain (EIP-5267)', async () => {
    const read = <F extends 'CLOSE_GRACE_PERIOD' | 'VOUCHER_TYPEHASH' | 'domainSeparator'>(functionName: F) =>
      payerClient.readContract({ address: escrow, abi: escrowAbi, functionName })
    expect(await read('CLOSE_GRACE_PERIOD')).toBe(900n)
    expect(await read('VOUCHER_TYPEHASH')).toBe(keccak256(toHex('Voucher(bytes32 channelId,uint128 cumulativeAmount)')))
    expect(await read('domainSeparator')).toBe(domainSeparator({ domain: domain() }))
    const [fields, name, version, domainChainId, verifyingContract, salt, extensions] = await payerClient.readContract({
      address: escrow,
      abi: escrowAbi,
      functionName: 'eip712Domain',
    })
    expect({ fields, name, version, domainChainId, verifyingContract: verifyingContract.toLowerCase(), salt, extensions }).toEqual({
      fields: '0x0f',
      name: 'Tempo Stream Channel',
      version: '1',
      domainChainId: BigInt(chainId),
      verifyingContract: escrow,
      salt: pad('0x00'),
      extensions: [],
    })
  })

  it('computeChannelId matches abi.encode + keccak256 computed in viem', async () => {
    const salt = nextSalt()
    const delegate = testAccounts[5]!.address
    for (const signer of [zeroAddress, delegate]) {
      const onChain = await payerClient.readContract({
        address: escrow,
        abi: escrowAbi,
        functionName: 'computeChannelId',
        args: [payer, payee, pathUsdAddress, salt, signer],
      })
      expect(onChain).toBe(channelIdOf(payer, signer, salt))
    }
  })

  it('getVoucherDigest matches viem hashTypedData for the v1 domain', async () => {
    const channelId = keccak256(toHex('some channel'))
    const digest = await payerClient.readContract({
      address: escrow,
      abi: escrowAbi,
      functionName: 'getVoucherDigest',
      args: [channelId, 1_234_567n],
    })
    expect(digest).toBe(
      hashTypedData({
        domain: domain(),
        types: voucherTypes,
        primaryType: 'Voucher',
        message: { channelId, cumulativeAmount: 1_234_567n },
      }),
    )
  })

  it('open escrows the deposit and records every channel field', async () => {
    const before = await balances()
    const delegate = testAccounts[6]!.address.toLowerCase() as Address
    const { channelId, salt, receipt } = await openChannel(1_000_000n, delegate)

    const ch = await getChannel(channelId)
    expect({
      ...ch,
      payer: ch.payer.toLowerCase(),
      payee: ch.payee.toLowerCase(),
      token: ch.token.toLowerCase(),
      authorizedSigner: ch.authorizedSigner.toLowerCase(),
    }).toEqual({
      payer,
      payee,
      token: pathUsdAddress,
      authorizedSigner: delegate,
      deposit: 1_000_000n,
      settled: 0n,
      closeRequestedAt: 0n,
      finalized: false,
    })
    const after = await balances()
    expect(before.payer - after.payer).toBe(1_000_000n)
    expect(after.escrow - before.escrow).toBe(1_000_000n)

    const [opened] = decodeEscrowLogs(receipt.logs)
    expect(opened?.eventName).toBe('ChannelOpened')
    expect(opened?.args).toMatchObject({ channelId, token: expect.stringMatching(/^0x20c0/i), salt, deposit: 1_000_000n })
    // As deployed, the event follows the token transfer.
    expect(receipt.logs.findIndex((l) => l.address.toLowerCase() === escrow)).toBe(receipt.logs.length - 1)

    // The public `channels` getter returns the same fields, matched by the ABI's output names.
    const getter = await payerClient.readContract({ address: escrow, abi: escrowAbi, functionName: 'channels', args: [channelId] })
    const names = escrowAbi.find((item) => item.type === 'function' && item.name === 'channels')!.outputs.map((o) => o.name)
    expect(Object.fromEntries(names.map((name, i) => [name, getter[i]]))).toEqual(ch)

    const batch = await payerClient.readContract({
      address: escrow,
      abi: escrowAbi,
      functionName: 'getChannelsBatch',
      args: [[channelId, keccak256(toHex('never opened'))]],
    })
    expect(batch[0]?.deposit).toBe(1_000_000n)
    expect(batch[1]?.payer).toBe(zeroAddress)
  })

  it('open rejects a duplicate channel id and a missing allowance', async () => {
    const { salt } = await openChannel(10n)
    expect(await rejects(payerClient, 'open', [payee, pathUsdAddress, 10n, salt, zeroAddress])).toBe('ChannelAlreadyExists')
    // No approve first: pathUSD's transferFrom reverts, and its own error comes through (as deployed).
    await expectSuccess(
      payerClient,
      await payerClient.writeContract({
        address: pathUsdAddress,
        abi: tip20Abi,
        functionName: 'approve',
        args: [escrow, 0n],
        gas: gasLimits.call,
        ...zeroFees,
      }),
    )
    expect(await rejects(payerClient, 'open', [payee, pathUsdAddress, 10n, nextSalt(), zeroAddress])).toBe('InsufficientAllowance()')
  })

  it('open rejects a zero payee, a zero deposit and, on Tempo, a token that is not TIP-20', async () => {
    expect(await rejects(payerClient, 'open', [zeroAddress, pathUsdAddress, 10n, nextSalt(), zeroAddress])).toBe('InvalidPayee')
    expect(await rejects(payerClient, 'open', [payee, pathUsdAddress, 0n, nextSalt(), zeroAddress])).toBe('ZeroDeposit()')
    const erc20 = await deployTestToken(testClient(anvil, deployerAccount))
    expect(await rejects(payerClient, 'open', [payee, erc20, 10n, nextSalt(), zeroAddress])).toBe('InvalidToken()')
    // TIP-20 prefix but no token there.
    expect(await rejects(payerClient, 'open', [payee, '0x20c000000000000000000000000000000000dead', 10n, nextSalt(), zeroAddress])).toBe(
      'InvalidToken()',
    )
  })

  it('settle with a valid voucher moves exactly the delta to the payee', async () => {
    const { channelId } = await openChannel(1_000_000n)
    const before = await balances()

    const r1 = await write(payeeClient, 'settle', [channelId, 250_000n, await signVoucher(channelId, 250_000n)])
    const mid = await balances()
    expect(mid.payee - before.payee).toBe(250_000n)
    expect(before.escrow - mid.escrow).toBe(250_000n)
    expect(mid.payer).toBe(before.payer)
    expect(decodeEscrowLogs(r1.logs)[0]).toMatchObject({
      eventName: 'Settled',
      args: { channelId, cumulativeAmount: 250_000n, deltaPaid: 250_000n, newSettled: 250_000n },
    })

    // Cumulative semantics: the second voucher pays only what it adds.
    await write(payeeClient, 'settle', [channelId, 400_000n, await signVoucher(channelId, 400_000n)])
    const after = await balances()
    expect(after.payee - mid.payee).toBe(150_000n)
    expect((await getChannel(channelId)).settled).toBe(400_000n)
  })

  it('settle rejects bad vouchers and callers other than the payee', async () => {
    const { channelId } = await openChannel(1_000_000n)
    const good = await signVoucher(channelId, 100_000n)

    // Signed by someone other than the payer.
    expect(await rejects(payeeClient, 'settle', [channelId, 100_000n, await signVoucher(channelId, 100_000n, strangerAccount)])).toBe(
      'InvalidSignature',
    )
    // A voucher for another amount does not authorize this one.
    expect(await rejects(payeeClient, 'settle', [channelId, 100_001n, good])).toBe('InvalidSignature')

    // The high-s twin recovers to the payer off-chain (viem accepts it) but the contract refuses it.
    const twin = highSTwin(good)
    expect(
      await recoverTypedDataAddress({
        domain: domain(),
        types: voucherTypes,
        primaryType: 'Voucher',
        message: { channelId, cumulativeAmount: 100_000n },
        signature: twin,
      }),
    ).toBe(payerAccount.address)
    expect(await rejects(payeeClient, 'settle', [channelId, 100_000n, twin])).toBe('InvalidSignature')

    // v outside {27, 28}, and lengths other than 64/65.
    const { r, s, yParity } = parseSignature(good)
    expect(await rejects(payeeClient, 'settle', [channelId, 100_000n, concat([r, s, numberToHex(yParity, { size: 1 })])])).toBe(
      'InvalidSignature',
    )
    expect(await rejects(payeeClient, 'settle', [channelId, 100_000n, concat([good, '0x00'])])).toBe('InvalidSignature')
    expect(await rejects(payeeClient, 'settle', [channelId, 100_000n, '0x'])).toBe('InvalidSignature')

    expect(await rejects(payeeClient, 'settle', [channelId, 1_000_001n, await signVoucher(channelId, 1_000_001n)])).toBe(
      'AmountExceedsDeposit',
    )
    expect(await rejects(payeeClient, 'settle', [channelId, 0n, await signVoucher(channelId, 0n)])).toBe('AmountNotIncreasing')
    expect(await rejects(payerClient, 'settle', [channelId, 100_000n, good])).toBe('NotPayee')
    expect(await rejects(strangerClient, 'settle', [channelId, 100_000n, good])).toBe('NotPayee')

    await write(payeeClient, 'settle', [channelId, 100_000n, good])
    // Replaying the same voucher, or an older one, cannot pay twice.
    expect(await rejects(payeeClient, 'settle', [channelId, 100_000n, good])).toBe('AmountNotIncreasing')
    expect(await rejects(payeeClient, 'settle', [channelId, 50_000n, await signVoucher(channelId, 50_000n)])).toBe('AmountNotIncreasing')
    expect(await rejects(payeeClient, 'settle', [keccak256(toHex('unknown')), 100_000n, good])).toBe('ChannelNotFound')
  })

  it('accepts an EIP-2098 compact (64-byte) signature', async () => {
    const { channelId } = await openChannel(500_000n)
    const full = await signVoucher(channelId, 123_456n)
    const compact = serializeCompactSignature(signatureToCompactSignature(parseSignature(full)))
    expect((compact.length - 2) / 2).toBe(64)
    const before = await balances()
    await write(payeeClient, 'settle', [channelId, 123_456n, compact])
    expect((await balances()).payee - before.payee).toBe(123_456n)
  })

  it('with an authorizedSigner, only the delegate can sign vouchers', async () => {
    const delegate = privateKeyToAccount(generatePrivateKey())
    const { channelId } = await openChannel(500_000n, delegate.address)
    expect(await rejects(payeeClient, 'settle', [channelId, 1_000n, await signVoucher(channelId, 1_000n)])).toBe('InvalidSignature')
    await write(payeeClient, 'settle', [channelId, 1_000n, await signVoucher(channelId, 1_000n, delegate)])
    expect((await getChannel(channelId)).settled).toBe(1_000n)
  })

  it('payer-only and payee-only functions reject everyone else', async () => {
    const { channelId } = await openChannel(100_000n)
    const voucher = await signVoucher(channelId, 10n)
    expect(await rejects(payeeClient, 'topUp', [channelId, 1n])).toBe('NotPayer')
    expect(await rejects(strangerClient, 'topUp', [channelId, 1n])).toBe('NotPayer')
    expect(await rejects(payeeClient, 'requestClose', [channelId])).toBe('NotPayer')
    expect(await rejects(strangerClient, 'withdraw', [channelId])).toBe('NotPayer')
    expect(await rejects(payerClient, 'close', [channelId, 10n, voucher])).toBe('NotPayee')
    expect(await rejects(strangerClient, 'close', [channelId, 10n, voucher])).toBe('NotPayee')
  })

  it('topUp adds to the deposit and cancels a pending close request', async () => {
    const { channelId } = await openChannel(100_000n)
    const requested = await write(payerClient, 'requestClose', [channelId])
    const block = await payerClient.getBlock({ blockNumber: requested.blockNumber })
    expect((await getChannel(channelId)).closeRequestedAt).toBe(block.timestamp)
    expect(decodeEscrowLogs(requested.logs)[0]).toMatchObject({
      eventName: 'CloseRequested',
      args: { closeGraceEnd: block.timestamp + 900n },
    })

    await expectSuccess(
      payerClient,
      await payerClient.writeContract({
        address: pathUsdAddress,
        abi: tip20Abi,
        functionName: 'approve',
        args: [escrow, 50_000n],
        gas: gasLimits.call,
        ...zeroFees,
      }),
    )
    const before = await balances()
    const topped = await write(payerClient, 'topUp', [channelId, 50_000n])
    expect(decodeEscrowLogs(topped.logs).map((e) => e.eventName)).toEqual(['CloseRequestCancelled', 'TopUp'])
    expect(decodeEscrowLogs(topped.logs)[1]?.args).toMatchObject({ additionalDeposit: 50_000n, newDeposit: 150_000n })
    const ch = await getChannel(channelId)
    expect(ch.closeRequestedAt).toBe(0n)
    expect(ch.deposit).toBe(150_000n)
    expect(before.payer - (await balances()).payer).toBe(50_000n)
    // With the request cancelled, withdraw is no longer possible.
    expect(await rejects(payerClient, 'withdraw', [channelId])).toBe('CloseNotReady')
  })

  it('topUp takes a uint256 but keeps the deposit within uint128, and refuses zero', async () => {
    const { channelId } = await openChannel(1_000n)
    expect(await rejects(payerClient, 'topUp', [channelId, 0n])).toBe('ZeroDeposit()')
    expect(await rejects(payerClient, 'topUp', [channelId, maxUint128 - 999n])).toBe('DepositOverflow')
    expect(await rejects(payerClient, 'topUp', [channelId, 2n ** 128n])).toBe('DepositOverflow')
    expect(await rejects(payerClient, 'topUp', [channelId, maxUint256])).toBe('DepositOverflow')
    // Exactly up to 2^128-1 passes the overflow check; pathUSD then refuses the missing allowance.
    expect(await rejects(payerClient, 'topUp', [channelId, maxUint128 - 1_000n])).toBe('InsufficientAllowance()')
    expect(await rejects(payerClient, 'topUp', [keccak256(toHex('unknown')), 1n])).toBe('ChannelNotFound')
  })

  it('withdraw waits for the grace period, then refunds deposit minus settled', async () => {
    const { channelId } = await openChannel(300_000n)
    await write(payeeClient, 'settle', [channelId, 120_000n, await signVoucher(channelId, 120_000n)])
    expect(await rejects(payerClient, 'withdraw', [channelId])).toBe('CloseNotReady')

    await write(payerClient, 'requestClose', [channelId])
    expect(await rejects(payerClient, 'withdraw', [channelId])).toBe('CloseNotReady')
    // The payee may still settle during the grace period.
    await write(payeeClient, 'settle', [channelId, 150_000n, await signVoucher(channelId, 150_000n)])

    await chainClient.increaseTime({ seconds: 15 * 60 + 1 })
    await chainClient.mine({ blocks: 1 })
    const before = await balances()
    const receipt = await write(payerClient, 'withdraw', [channelId])
    const after = await balances()
    expect(after.payer - before.payer).toBe(150_000n)
    expect(after.payee).toBe(before.payee)
    expect(decodeEscrowLogs(receipt.logs)).toMatchObject([
      { eventName: 'ChannelExpired', args: { channelId } },
      { eventName: 'ChannelClosed', args: { settledToPayee: 150_000n, refundedToPayer: 150_000n } },
    ])
    expect(await getChannel(channelId)).toEqual(tombstone)
  })

  it('withdraw is refused one second before the grace period ends and allowed at its end', async () => {
    const { channelId } = await openChannel(10_000n)
    await write(payerClient, 'requestClose', [channelId])
    const requestedAt = (await getChannel(channelId)).closeRequestedAt
    const withdrawAt = async (timestamp: bigint) => {
      await chainClient.setNextBlockTimestamp({ timestamp })
      // Sent without simulating: the block timestamp only exists once mined.
      const hash = await payerClient.writeContract({
        address: escrow,
        abi: escrowAbi,
        functionName: 'withdraw',
        args: [channelId],
        gas: gasLimits.call,
        ...zeroFees,
      })
      return (await payerClient.waitForTransactionReceipt({ hash })).status
    }
    expect(await withdrawAt(requestedAt + 899n)).toBe('reverted')
    expect(await withdrawAt(requestedAt + 900n)).toBe('success')
  })

  it('close pays the payee its delta and refunds the payer exactly', async () => {
    const { channelId } = await openChannel(1_000_000n)
    await write(payeeClient, 'settle', [channelId, 200_000n, await signVoucher(channelId, 200_000n)])
    expect(await rejects(payeeClient, 'close', [channelId, 1_000_001n, await signVoucher(channelId, 1_000_001n)])).toBe(
      'AmountExceedsDeposit',
    )
    expect(await rejects(payeeClient, 'close', [channelId, 700_000n, await signVoucher(channelId, 700_000n, strangerAccount)])).toBe(
      'InvalidSignature',
    )
    expect(await rejects(payeeClient, 'close', [channelId, 700_000n, highSTwin(await signVoucher(channelId, 700_000n))])).toBe(
      'InvalidSignature',
    )

    const before = await balances()
    const receipt = await write(payeeClient, 'close', [channelId, 700_000n, await signVoucher(channelId, 700_000n)])
    const after = await balances()
    expect(after.payee - before.payee).toBe(500_000n)
    expect(after.payer - before.payer).toBe(300_000n)
    expect(before.escrow - after.escrow).toBe(800_000n)
    expect(decodeEscrowLogs(receipt.logs)[0]).toMatchObject({
      eventName: 'ChannelClosed',
      args: { settledToPayee: 700_000n, refundedToPayer: 300_000n },
    })
    // As deployed, a closed channel is deleted; only `finalized` stays.
    expect(await getChannel(channelId)).toEqual(tombstone)
  })

  it('close at or below the settled amount needs no signature, closes at the settled amount and refunds the rest', async () => {
    // As deployed: nothing new goes to the payee, so there is nothing for the payer to authorize.
    for (const closeAt of [100_000n, 99_999n, 0n]) {
      const { channelId } = await openChannel(400_000n)
      await write(payeeClient, 'settle', [channelId, 100_000n, await signVoucher(channelId, 100_000n)])
      const before = await balances()
      const receipt = await write(payeeClient, 'close', [channelId, closeAt, '0x'])
      const after = await balances()
      expect(after.payer - before.payer).toBe(300_000n)
      expect(after.payee).toBe(before.payee)
      expect(decodeEscrowLogs(receipt.logs)[0]).toMatchObject({
        eventName: 'ChannelClosed',
        args: { settledToPayee: 100_000n, refundedToPayer: 300_000n },
      })
    }
  })

  it('a finalized channel rejects every further call', async () => {
    const { channelId, salt } = await openChannel(50_000n)
    await write(payeeClient, 'close', [channelId, 10_000n, await signVoucher(channelId, 10_000n)])
    const voucher = await signVoucher(channelId, 20_000n)
    expect(await rejects(payeeClient, 'settle', [channelId, 20_000n, voucher])).toBe('ChannelFinalized')
    expect(await rejects(payeeClient, 'close', [channelId, 20_000n, voucher])).toBe('ChannelFinalized')
    expect(await rejects(payerClient, 'topUp', [channelId, 1n])).toBe('ChannelFinalized')
    expect(await rejects(payerClient, 'requestClose', [channelId])).toBe('ChannelFinalized')
    expect(await rejects(payerClient, 'withdraw', [channelId])).toBe('ChannelFinalized')
    // As deployed, `finalized` is checked before the caller.
    expect(await rejects(strangerClient, 'settle', [channelId, 20_000n, voucher])).toBe('ChannelFinalized')
    // Its id stays taken, so old vouchers can never meet a fresh deposit.
    expect(await rejects(payerClient, 'open', [payee, pathUsdAddress, 50_000n, salt, zeroAddress])).toBe('ChannelAlreadyExists')
  })

  it('accepts EIP-1559 (type 2) transactions too, fees paid in a TIP-20 token', async () => {
    // A `foundry` chain object makes viem send type-2 transactions to the same Tempo anvil.
    const legacy = testClient({ rpcUrl: anvil.rpcUrl, chain: { ...foundry, rpcUrls: { default: { http: [anvil.rpcUrl] } } } }, payerAccount)
    const salt = nextSalt()
    const approve = await expectSuccess(
      legacy,
      await legacy.writeContract({
        address: pathUsdAddress,
        abi: tip20Abi,
        functionName: 'approve',
        args: [escrow, 5_000n],
        gas: gasLimits.call,
        ...zeroFees,
      }),
    )
    expect(approve.type).toBe('eip1559')
    const opened = await expectSuccess(
      legacy,
      await legacy.writeContract({
        address: escrow,
        abi: escrowAbi,
        functionName: 'open',
        args: [payee, pathUsdAddress, 5_000n, salt, zeroAddress],
        gas: gasLimits.call,
        ...zeroFees,
      }),
    )
    expect(opened.type).toBe('eip1559')
    recordGas('open (type 2)', opened.gasUsed)
    expect((await getChannel(channelIdOf(payer, zeroAddress, salt))).deposit).toBe(5_000n)

    // With a non-zero gas price the fee is paid in a TIP-20 token, never in ETH.
    // Measured: for type 2 it is the sender's default fee token, which for anvil's
    // accounts 0, 1, 2 is AlphaUSD/BetaUSD/ThetaUSD (0x20c0…01/02/03), for the
    // others pathUSD; a 0x76 transaction pays in its `feeToken`.
    const eth = await legacy.getBalance({ address: payer })
    const paid = await expectSuccess(
      legacy,
      await legacy.writeContract({
        address: pathUsdAddress,
        abi: tip20Abi,
        functionName: 'approve',
        args: [escrow, 0n],
        gas: gasLimits.call,
        maxFeePerGas: 1_000_000_000_000n,
        maxPriorityFeePerGas: 1_000_000_000_000n,
      }),
    )
    const feeTransfer = paid.logs.find((l) => l.topics[2] === feeManagerTopic)
    expect(feeTransfer?.address).toMatch(/^0x20c0{36}[0-3]$/)
    expect(BigInt(feeTransfer!.data)).toBe(paid.gasUsed) // 1e12 attodollars per gas = 1 base unit per gas
    expect(await legacy.getBalance({ address: payer })).toBe(eth)
  })
})

describe('escrow artifact', () => {
  it('the committed artifact equals a fresh compile', () => {
    expect(checkArtifacts('escrow')).toEqual([])
    const source = readFileSync(new URL('../../contracts-abi/escrow/StreamChannelEscrow.sol', import.meta.url))
    expect(escrowSourceSha256).toBe(createHash('sha256').update(source).digest('hex'))
  }, 60_000)
})

describe('escrow on a standard (non-Tempo) anvil with the test ERC-20', () => {
  let plain: Anvil
  beforeAll(async () => {
    plain = await startAnvil({ tempo: false })
  })
  afterAll(async () => {
    await plain?.stop()
  })

  it('opens, settles and closes over EIP-1559 transactions', async () => {
    const deployer = testClient(plain, deployerAccount)
    const p = testClient(plain, payerAccount)
    const q = testClient(plain, payeeAccount)
    const token = await deployTestToken(deployer)
    const plainEscrow = await deployEscrow(deployer)
    await mintTestToken(deployer, token, payer, 1_000n)

    const send = async (client: TestClient, hash: Promise<Hex>) => {
      const receipt = await expectSuccess(client, await hash)
      expect(receipt.type).toBe('eip1559')
    }
    const fees = { gas: gasLimits.call, ...zeroFees }
    const salt = nextSalt()
    await send(p, p.writeContract({ address: token, abi: testTokenAbi, functionName: 'approve', args: [plainEscrow, 1_000n], ...fees }))
    await send(
      p,
      p.writeContract({
        address: plainEscrow,
        abi: escrowAbi,
        functionName: 'open',
        args: [payee, token, 1_000n, salt, zeroAddress],
        ...fees,
      }),
    )
    const channelId = await p.readContract({
      address: plainEscrow,
      abi: escrowAbi,
      functionName: 'computeChannelId',
      args: [payer, payee, token, salt, zeroAddress],
    })
    const signature = await payerAccount.signTypedData({
      domain: { name: 'Tempo Stream Channel', version: '1', chainId: plain.chain.id, verifyingContract: plainEscrow },
      types: voucherTypes,
      primaryType: 'Voucher',
      message: { channelId, cumulativeAmount: 400n },
    })
    await send(
      q,
      q.writeContract({ address: plainEscrow, abi: escrowAbi, functionName: 'close', args: [channelId, 400n, signature], ...fees }),
    )
    const balance = (a: Address) => p.readContract({ address: token, abi: testTokenAbi, functionName: 'balanceOf', args: [a] })
    expect(await balance(payee)).toBe(400n)
    expect(await balance(payer)).toBe(600n)
    expect(await balance(plainEscrow)).toBe(0n)
  })
})
