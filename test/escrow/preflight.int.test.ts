// The preflight (src/escrow/preflight.ts) through the viem Escrow adapter's
// broadcast, on real anvils: a client's open/topUp that would fail on chain is
// refused at once, before anything is sent (the sender's nonce, its balance and
// the chain's height unchanged, no fee charged, the hash unknown to the node);
// one that succeeds goes through, at exactly the gas limit the chain needs.
// Fees are not zero here (20 gwei per gas: a 200k-gas open costs 4,000 base
// units of pathUSD), so "no fee charged" means something.
import {
  type Address,
  createPublicClient,
  custom,
  encodeFunctionData,
  type Hex,
  http,
  keccak256,
  maxUint256,
  numberToHex,
  type PublicClient,
  zeroAddress,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { Abis, Addresses } from 'viem/tempo'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { escrowAbi as escrowArtifactAbi, escrowBytecode } from '../../contracts-abi/escrow/artifact.js'
import { testTokenAbi } from '../../contracts-abi/escrow/test-token-artifact.js'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { pathUsdAddress, tip20Abi } from '../../contracts-abi/tip20.js'
import { PaymentError } from '../../src/errors/payment-error.js'
import { evmChain, isTempoChain, tempoChain } from '../../src/escrow/chain.js'
import { preflight } from '../../src/escrow/preflight.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import { selectRecoveryBackend } from '../../src/secp256k1/select.js'
import type { Escrow } from '../../src/session/escrow.js'
import {
  type Anvil,
  anvilChainId,
  deployEscrow,
  deployTestToken,
  expectSuccess,
  mintTestToken,
  pathUsdBalance,
  sendTempoCalls,
  startAnvil,
  type TestClient,
  testAccounts,
  testClient,
  zeroFees,
} from '../harness/local-chain.js'

/** 20 gwei (attodollars) per gas, tip included: the chain takes limit × 2·10^10 / 10^12 base units of the fee token. */
const fees = { maxFeePerGas: 20_000_000_000n, maxPriorityFeePerGas: 20_000_000_000n } as const
const feeManager: Address = Addresses.feeManager
const betaUsd: Address = '0x20C0000000000000000000000000000000000002'
/** Generous, like the session client's default. */
const defaultGas = 500_000n

type Call = { to: Address; data: Hex }
type TempoFields = {
  gas?: bigint
  nonce?: number
  nonceKey?: bigint
  validBefore?: number
  validAfter?: number
  maxFeePerGas?: bigint
  maxPriorityFeePerGas?: bigint
  feeToken?: Address
}

let saltCounter = 0n
const nextSalt = (): Hex => numberToHex(++saltCounter, { size: 32 })

const approveCall = (token: Address, spender: Address, amount: bigint): Call => ({
  to: token,
  data: encodeFunctionData({ abi: tip20Abi, functionName: 'approve', args: [spender, amount] }),
})

async function expectPaymentError(promise: Promise<unknown>, code: PaymentError['code']): Promise<PaymentError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, `expected ${code}`).toBeInstanceOf(PaymentError)
  expect((err as PaymentError).code, (err as PaymentError).detail).toBe(code)
  return err as PaymentError
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
function printTimings(title: string) {
  const rows = [...timings].map(([label, ms]) => {
    const sorted = [...ms].sort((a, b) => a - b)
    return `${label}: n=${ms.length} median=${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms max=${sorted.at(-1)!.toFixed(1)} ms`
  })
  console.log(`${title}:\n  ${rows.join('\n  ')}`)
  timings.clear()
}

/** The chain as a fixture: an escrow, the adapter, and helpers to make payers and sign their transactions. */
function tempoFixture(options: { hardfork?: string } = {}) {
  const fixture = {} as {
    anvil: Anvil
    escrowAddress: Address
    escrow: Escrow
    deployer: TestClient
    reader: PublicClient
  }

  beforeAll(async () => {
    fixture.anvil = await startAnvil(options.hardfork === undefined ? {} : { hardfork: options.hardfork })
    fixture.deployer = testClient(fixture.anvil, testAccounts[0]!)
    // From T1 a new storage slot costs ~250k gas: deploy with room to spare.
    const hash = await fixture.deployer.deployContract({
      abi: escrowArtifactAbi,
      bytecode: escrowBytecode,
      gas: 20_000_000n,
      maxFeePerGas: 0n,
      maxPriorityFeePerGas: 0n,
    })
    fixture.escrowAddress = (await expectSuccess(fixture.deployer, hash)).contractAddress!.toLowerCase() as Address
    fixture.escrow = viemEscrow({
      address: fixture.escrowAddress,
      chain: fixture.anvil.chain,
      rpcUrl: fixture.anvil.rpcUrl,
      pollingIntervalMs: 10,
      timeoutMs: 10_000,
    })
    fixture.reader = createPublicClient({ chain: fixture.anvil.chain, transport: http(fixture.anvil.rpcUrl), cacheTime: 0 })
    // The first preflight in a process also loads and compiles its code: timed apart from the others.
    const warmUp = await signTempo(fixture.deployer, openCalls(1n), { gas: 5_000_000n })
    await timed('first preflight in the process', () => preflight(warmUp, preflightOptions()))
  })
  afterAll(async () => {
    await fixture.anvil?.stop()
  })

  /** For calling the preflight alone (it never sends). */
  function preflightOptions() {
    return {
      client: fixture.reader,
      chainId: anvilChainId,
      tempo: true,
      recovery: selectRecoveryBackend().backend,
      within: <T>(work: Promise<T>) => work,
    }
  }

  /** A fresh payer holding `amount` base units of pathUSD, its fee token (it has chosen none). */
  async function newPayer(amount = 100_000_000n) {
    const account = privateKeyToAccount(generatePrivateKey())
    const transfer = encodeFunctionData({ abi: tip20Abi, functionName: 'transfer', args: [account.address, amount] })
    await sendTempoCalls(fixture.deployer, [{ to: pathUsdAddress, data: transfer }], 3_000_000n)
    return { account, address: account.address.toLowerCase() as Address, client: testClient(fixture.anvil, account) }
  }

  /** Signs (never sends) a Tempo 0x76 transaction; nonce and lane are the chain's next unless given. */
  async function signTempo(client: TestClient, calls: readonly Call[], fields: TempoFields = {}): Promise<Hex> {
    const request = await client.prepareTransactionRequest({ calls, gas: defaultGas, ...fees, ...fields } as never)
    return client.signTransaction(request as never)
  }

  /** approve(escrow, approved) then open(payee, token, deposit): the spec's open transaction (`approved` null: no approve). */
  function openCalls(deposit: bigint, approved: bigint | null = deposit, salt = nextSalt(), token: Address = pathUsdAddress): Call[] {
    const open: Call = {
      to: fixture.escrowAddress,
      data: encodeFunctionData({
        abi: escrowAbi,
        functionName: 'open',
        args: [testAccounts[2]!.address, token, deposit, salt, zeroAddress],
      }),
    }
    return approved === null ? [open] : [approveCall(token, fixture.escrowAddress, approved), open]
  }

  /** What "nothing was sent" is checked against. */
  async function senderState(sender: Address) {
    return {
      height: await fixture.reader.getBlockNumber({ cacheTime: 0 }),
      nonce: await fixture.reader.getTransactionCount({ address: sender, blockTag: 'pending' }),
      pathUsd: await pathUsdBalance(fixture.reader, sender),
    }
  }

  /** Broadcast must refuse `raw` with `detail`, at once, having sent nothing. */
  async function expectRefused(raw: Hex, sender: Address, detail: RegExp): Promise<PaymentError> {
    const before = await senderState(sender)
    const start = performance.now()
    const err = await expectPaymentError(fixture.escrow.broadcast(raw), 'mpp_payment_verification_failed')
    const elapsed = performance.now() - start
    timings.set('refusal', [...(timings.get('refusal') ?? []), elapsed])
    expect(err.detail).toMatch(detail)
    // A receipt wait would last the adapter's 10 s timeout.
    expect(elapsed, 'refused without waiting for a receipt').toBeLessThan(1_000)
    expect(err.detail, 'quotes no transaction or hash').not.toMatch(/0x[0-9a-f]{41,}/i)
    expect(err.retryAfter).toBeUndefined()
    expect(await senderState(sender)).toEqual(before)
    expect(await fixture.reader.request({ method: 'eth_getTransactionByHash', params: [keccak256(raw)] })).toBeNull()
    return err
  }

  /** The gas figure of an out-of-gas refusal. */
  const needsOf = (err: PaymentError) => BigInt(/needs about (\d+)/.exec(err.detail)![1]!)

  /** The next block's time, as the preflight sees it. */
  const nextBlockTime = async () => Number((await fixture.reader.getBlock({ blockTag: 'pending' })).timestamp)

  return Object.assign(fixture, { preflightOptions, newPayer, signTempo, openCalls, senderState, expectRefused, needsOf, nextBlockTime })
}

describe('isTempoChain', () => {
  it("tells Tempo chains (ours and viem's) from others by their transaction serializer", async () => {
    const { tempo, tempoModerato } = await import('viem/chains')
    expect(isTempoChain(tempoChain({ id: 1, rpcUrl: 'http://x' }))).toBe(true)
    expect(isTempoChain(tempoChain({ id: 1, rpcUrl: 'http://x', feeToken: pathUsdAddress }))).toBe(true)
    expect(isTempoChain(tempo)).toBe(true)
    expect(isTempoChain(tempoModerato)).toBe(true)
    expect(isTempoChain(evmChain({ id: 1, rpcUrl: 'http://x' }))).toBe(false)
  })
})

describe('preflight on a Tempo-mode anvil (hardfork T0, the default)', () => {
  const chain = tempoFixture()
  afterAll(() => printTimings('preflight on anvil (T0)'))

  it('refuses the mppx open (gas as eth_fillTransaction reports it) and names the gas it needs', async () => {
    const payer = await chain.newPayer()
    const calls = chain.openCalls(1_000_000n)
    // anvil's fill ignores the calls of a 0x76 request: the figure mppx 0.11 signs with.
    const filled = await chain.reader.request({
      method: 'eth_fillTransaction' as never,
      params: [{ from: payer.address, calls, feeToken: pathUsdAddress }] as never,
    })
    const gas = BigInt((filled as { tx: { gas: Hex } }).tx.gas)
    expect(gas).toBeLessThan(100_000n)
    const err = await chain.expectRefused(
      await chain.signTempo(payer.client, calls, { gas }),
      payer.address,
      new RegExp(`^The transaction would run out of gas: limit ${gas}, needs about \\d+\\.$`),
    )
    expect(chain.needsOf(err)).toBeGreaterThan(150_000n)
  })

  it('passes exactly the gas the chain needs: the limit it names goes through and uses all of it, one less is refused', async () => {
    const fresh = await chain.newPayer()
    // Account 1 has chosen BetaUSD for its fees; its 0x76 transactions name pathUSD all the same.
    const chose = { client: testClient(chain.anvil, testAccounts[1]!), address: testAccounts[1]!.address.toLowerCase() as Address }
    expect(
      await chain.reader.readContract({ address: feeManager, abi: Abis.feeManager, functionName: 'userTokens', args: [chose.address] }),
    ).toBe(betaUsd)
    const cases = [
      { label: 'a payer without a chosen fee token', payer: fresh, token: pathUsdAddress, price: fees },
      { label: 'a payer with another chosen fee token, no fee', payer: chose, token: pathUsdAddress, price: zeroFees },
      { label: 'a deposit in the chosen fee token, the fee in pathUSD', payer: chose, token: betaUsd, price: fees },
    ]
    for (const { label, payer, token, price } of cases) {
      const calls = chain.openCalls(1_000_000n, 1_000_000n, nextSalt(), token)
      const sign = (gas: bigint) => chain.signTempo(payer.client, calls, { gas, ...price })
      const needs = chain.needsOf(await chain.expectRefused(await sign(100_000n), payer.address, /run out of gas/))
      await chain.expectRefused(await sign(needs - 1n), payer.address, /run out of gas/)
      const { txHash } = await timed('broadcast of a good open (preflight + send + receipt)', async () =>
        chain.escrow.broadcast(await sign(needs)),
      )
      const receipt = await chain.reader.getTransactionReceipt({ hash: txHash })
      expect(receipt.status, label).toBe('success')
      expect(receipt.gasUsed, label).toBe(needs)
    }
  })

  it('lets a good open and a topUp (with its approve) through, paying their fees', async () => {
    const payer = await chain.newPayer()
    const salt = nextSalt()
    const openRaw = await chain.signTempo(payer.client, chain.openCalls(2_000_000n, 2_000_000n, salt))
    const before = await pathUsdBalance(chain.reader, payer.address)
    await timed('broadcast of a good open (preflight + send + receipt)', () => chain.escrow.broadcast(openRaw))
    const channelId = await chain.reader.readContract({
      address: chain.escrowAddress,
      abi: escrowAbi,
      functionName: 'computeChannelId',
      args: [payer.address, testAccounts[2]!.address, pathUsdAddress, salt, zeroAddress],
    })
    expect((await chain.escrow.getChannel(channelId))?.deposit).toBe(2_000_000n)
    const topUp = encodeFunctionData({ abi: escrowAbi, functionName: 'topUp', args: [channelId, 500_000n] })
    await chain.escrow.broadcast(
      await chain.signTempo(payer.client, [
        approveCall(pathUsdAddress, chain.escrowAddress, 500_000n),
        { to: chain.escrowAddress, data: topUp },
      ]),
    )
    expect((await chain.escrow.getChannel(channelId))?.deposit).toBe(2_500_000n)
    // Deposits plus two fees of at most limit × price.
    const paid = before - (await pathUsdBalance(chain.reader, payer.address))
    expect(paid).toBeGreaterThan(2_500_000n)
    expect(paid).toBeLessThanOrEqual(2_500_000n + (2n * defaultGas * fees.maxFeePerGas) / 10n ** 12n)
  })

  it('refuses an open whose approve is missing or short, with the token error', async () => {
    const payer = await chain.newPayer()
    for (const approved of [null, 999_999n]) {
      await chain.expectRefused(
        await chain.signTempo(payer.client, chain.openCalls(1_000_000n, approved)),
        payer.address,
        /^The open call would revert: the escrow's allowance on the token is below the amount \(approve it first\)\.$/,
      )
    }
  })

  it('refuses a topUp beyond the payer balance', async () => {
    const payer = await chain.newPayer(3_000_000n)
    const salt = nextSalt()
    await chain.escrow.broadcast(await chain.signTempo(payer.client, chain.openCalls(1_000_000n, 1_000_000n, salt)))
    const channelId = await chain.reader.readContract({
      address: chain.escrowAddress,
      abi: escrowAbi,
      functionName: 'computeChannelId',
      args: [payer.address, testAccounts[2]!.address, pathUsdAddress, salt, zeroAddress],
    })
    const held = await pathUsdBalance(chain.reader, payer.address)
    const topUp = encodeFunctionData({ abi: escrowAbi, functionName: 'topUp', args: [channelId, 5_000_000n] })
    const raw = await chain.signTempo(payer.client, [
      approveCall(pathUsdAddress, chain.escrowAddress, 5_000_000n),
      { to: chain.escrowAddress, data: topUp },
    ])
    // The chain takes the fee before the calls run: what is left is below the topUp.
    const err = await chain.expectRefused(
      raw,
      payer.address,
      /^The topUp call would revert: the balance of token 0x20c0{37} is (\d+), below the 5000000 needed\.$/,
    )
    const left = BigInt(/is (\d+), below/.exec(err.detail)![1]!)
    expect(left).toBeLessThan(held)
    expect(held - left).toBe((defaultGas * fees.maxFeePerGas) / 10n ** 12n)
  })

  it('refuses an open the payer can fund only before the fee: the fee is taken first', async () => {
    // Exactly the deposit: enough for the open alone, not for the open after its fee.
    const payer = await chain.newPayer(1_000_000n)
    await chain.expectRefused(
      await chain.signTempo(payer.client, chain.openCalls(1_000_000n)),
      payer.address,
      /^The open call would revert: the balance of token 0x20c0{37} is 990000, below the 1000000 needed\.$/,
    )
  })

  it('refuses a fee the sender cannot pay', async () => {
    const payer = await chain.newPayer(1_000n)
    // 500,000 gas × 10^13 attodollars = 5,000,000 base units.
    await chain.expectRefused(
      await chain.signTempo(payer.client, chain.openCalls(500n), { maxFeePerGas: 10n ** 13n }),
      payer.address,
      /^The sender cannot pay the transaction's fee: it may cost up to 5000000 of token 0x20c0{37}, and the sender holds 1000\.$/,
    )
  })

  it('refuses a fee token the chain does not take fees in', async () => {
    const payer = await chain.newPayer()
    // No TIP-20 address at all, then one where no token is deployed.
    for (const feeToken of [chain.escrowAddress, '0x20c0000000000000000000000000000000000abc' as Address]) {
      await chain.expectRefused(
        await chain.signTempo(payer.client, chain.openCalls(1_000_000n), { feeToken }),
        payer.address,
        new RegExp(`^The fee token ${feeToken} is not a token this chain takes fees in \\(a USD TIP-20 token\\)\\.$`),
      )
    }
  })

  it('refuses a future nonce (it would wait) and a used one (anvil would drop it)', async () => {
    const payer = await chain.newPayer()
    const next = await chain.reader.getTransactionCount({ address: payer.address, blockTag: 'pending' })
    await chain.expectRefused(
      await chain.signTempo(payer.client, chain.openCalls(1_000_000n), { nonce: next + 1 }),
      payer.address,
      new RegExp(
        `^The transaction's nonce ${next + 1} is ahead of the sender's next nonce ${next}: it would wait instead of executing\\.$`,
      ),
    )
    await chain.escrow.broadcast(await chain.signTempo(payer.client, chain.openCalls(1_000_000n)))
    await chain.expectRefused(
      await chain.signTempo(payer.client, chain.openCalls(1_000_000n), { nonce: next }),
      payer.address,
      new RegExp(`^The transaction's nonce ${next} was already used: the sender's next nonce is ${next + 1}\\.$`),
    )
  })

  it('checks 2D nonce lanes against the nonce manager and charges a new lane', async () => {
    const payer = await chain.newPayer()
    await chain.expectRefused(
      await chain.signTempo(payer.client, chain.openCalls(1_000_000n), { nonceKey: 7n, nonce: 1 }),
      payer.address,
      /^The transaction's nonce 1 is ahead of the sender's next nonce 0 in nonce lane 7: it would wait instead of executing\.$/,
    )
    // A new lane costs 22,100 more before T1: the preflight asks the node.
    const calls = chain.openCalls(1_000_000n)
    const onLane = chain.needsOf(
      await chain.expectRefused(
        await chain.signTempo(payer.client, calls, { gas: 100_000n, nonceKey: 7n, nonce: 0 }),
        payer.address,
        /gas/,
      ),
    )
    const plain = chain.needsOf(
      await chain.expectRefused(await chain.signTempo(payer.client, calls, { gas: 100_000n }), payer.address, /gas/),
    )
    expect(onLane - plain).toBe(22_100n)
    const { txHash } = await chain.escrow.broadcast(await chain.signTempo(payer.client, calls, { gas: onLane, nonceKey: 7n, nonce: 0 }))
    expect((await chain.reader.getTransactionReceipt({ hash: txHash })).gasUsed).toBe(onLane)
    await chain.expectRefused(
      await chain.signTempo(payer.client, chain.openCalls(1_000_000n), { nonceKey: 7n, nonce: 0 }),
      payer.address,
      /^The transaction's nonce 0 was already used in nonce lane 7: the sender's next nonce is 1\.$/,
    )
  })

  it('checks the validity window and the rules of expiring nonces', async () => {
    const payer = await chain.newPayer()
    const time = await chain.nextBlockTime()
    const expiring = (fields: TempoFields) =>
      chain.signTempo(payer.client, chain.openCalls(1_000_000n), { nonceKey: maxUint256, nonce: 0, ...fields })
    await chain.expectRefused(
      await expiring({ validBefore: time + 60 }),
      payer.address,
      /^An expiring-nonce transaction must expire within 30 s of the next block's time \d+; its validBefore is \d+\.$/,
    )
    await chain.expectRefused(
      await expiring({ validBefore: time - 1 }),
      payer.address,
      /^The transaction has expired: its validBefore \d+ is not after/,
    )
    await chain.expectRefused(
      await expiring({ nonce: 1, validBefore: time + 20 }),
      payer.address,
      /^An expiring-nonce transaction must have nonce 0\.$/,
    )
    await chain.expectRefused(
      await chain.signTempo(payer.client, chain.openCalls(1_000_000n), { validAfter: time + 600 }),
      payer.address,
      /^The transaction is not valid yet: its validAfter \d+ is after the next block's time \d+\.$/,
    )
    // What mppx 0.11 sends (nonce 0, validBefore about 25 s ahead) goes through.
    await chain.escrow.broadcast(await expiring({ validBefore: (await chain.nextBlockTime()) + 20 }))
    // Before T1 the expiring lane is an ordinary 2D lane: one such transaction per sender (anvil drops the next).
    await chain.expectRefused(
      await expiring({ validBefore: (await chain.nextBlockTime()) + 20 }),
      payer.address,
      /^The transaction's nonce 0 was already used in the expiring-nonce lane: the sender's next nonce is 1\.$/,
    )
  })

  it('refuses an EIP-1559 open that would revert, and passes one with exactly the gas it needs', async () => {
    // A test account: anvil wants native balance for a type-2 fee, which fresh keys lack.
    const account = testAccounts[5]!
    const sender = account.address.toLowerCase() as Address
    const client = testClient({ rpcUrl: chain.anvil.rpcUrl, chain: evmChain({ id: anvilChainId, rpcUrl: chain.anvil.rpcUrl }) }, account)
    const [approve, open] = chain.openCalls(1_000_000n, 0n)
    const sign = async (gas = defaultGas) => {
      const request = await client.prepareTransactionRequest({ to: open!.to, data: open!.data, gas, ...fees, type: 'eip1559' } as never)
      return client.signTransaction(request as never)
    }
    await chain.expectRefused(await sign(), sender, /^The open call would revert: the escrow's allowance on the token is below the amount/)
    const approved = encodeFunctionData({ abi: tip20Abi, functionName: 'approve', args: [chain.escrowAddress, 1_000_000n] })
    await expectSuccess(client, await client.sendTransaction({ to: approve!.to, data: approved, gas: defaultGas, ...fees } as never))
    const needs = chain.needsOf(await chain.expectRefused(await sign(50_000n), sender, /run out of gas/))
    await chain.expectRefused(await sign(needs - 1n), sender, /run out of gas/)
    const { txHash } = await chain.escrow.broadcast(await sign(needs))
    const receipt = await chain.reader.getTransactionReceipt({ hash: txHash })
    expect(receipt.status).toBe('success')
    expect(receipt.gasUsed).toBe(needs)
  })

  it('lets a retry of a mined open through to its receipt', async () => {
    const payer = await chain.newPayer()
    const raw = await chain.signTempo(payer.client, chain.openCalls(1_000_000n))
    const first = await chain.escrow.broadcast(raw)
    expect(await chain.escrow.broadcast(raw)).toEqual(first)
  })

  it('answers mpp_chain_unavailable when the node cannot simulate, and sends nothing', async () => {
    const payer = await chain.newPayer()
    const upstream = createPublicClient({ transport: http(chain.anvil.rpcUrl) })
    const noSimulation = viemEscrow({
      address: chain.escrowAddress,
      chain: chain.anvil.chain,
      transport: custom(
        {
          request: ({ method, params }) =>
            method === 'eth_simulateV1'
              ? Promise.reject(new Error('eth_simulateV1 is not supported'))
              : upstream.request({ method, params } as never),
        },
        { retryCount: 0 },
      ),
      pollingIntervalMs: 10,
    })
    const raw = await chain.signTempo(payer.client, chain.openCalls(1_000_000n))
    const before = await chain.senderState(payer.address)
    const err = await expectPaymentError(noSimulation.broadcast(raw), 'mpp_chain_unavailable')
    expect(err.detail).toBe('Could not check the open/topUp transaction against the chain. Retry shortly.')
    expect(err.extensions.txHash).toBe(keccak256(raw))
    expect(await chain.senderState(payer.address)).toEqual(before)
  })

  it('measures what the preflight adds to an open', async () => {
    const payer = await chain.newPayer()
    const raw = await chain.signTempo(payer.client, chain.openCalls(1_000_000n))
    for (let i = 0; i < 30; i++) await timed('preflight of an approve + open (not sent)', () => preflight(raw, chain.preflightOptions()))
    const sorted = [...timings.get('preflight of an approve + open (not sent)')!].sort((a, b) => a - b)
    expect(sorted[15]!).toBeLessThan(100)
  })
})

describe('preflight on a Tempo-mode anvil at hardfork T1 (expiring nonces, 250k-gas storage)', () => {
  const chain = tempoFixture({ hardfork: 't1' })
  afterAll(() => printTimings('preflight on anvil (T1)'))

  it("refuses a limit whose calls fit but whose inner calls lack the 1/64 EIP-150 keeps back, exactly at the chain's boundary", async () => {
    const payer = await chain.newPayer()
    const calls = chain.openCalls(1_000_000n)
    const sign = (gas: bigint) => chain.signTempo(payer.client, calls, { gas })
    const needs = chain.needsOf(await chain.expectRefused(await sign(100_000n), payer.address, /run out of gas/))
    // With the calls' total as its limit, the escrow's call into the token gets 63/64 of too little.
    await chain.expectRefused(
      await sign(needs),
      payer.address,
      /^The transaction would run out of gas: limit \d+, needs more \(its calls use about \d+, and inner calls get 63\/64 of what is left\)\.$/,
    )
    // The smallest limit the preflight accepts, found without sending anything.
    const accepts = async (gas: bigint) =>
      preflight(await sign(gas), chain.preflightOptions()).then(
        () => true,
        (err: unknown) => {
          if (err instanceof PaymentError && /run out of gas/.test(err.detail)) return false
          throw err
        },
      )
    let [low, high] = [needs, needs + 20_000n]
    expect(await accepts(high)).toBe(true)
    while (high - low > 1n) {
      const mid = (low + high) / 2n
      if (await accepts(mid)) high = mid
      else low = mid
    }
    // One gas less, sent to the chain directly: it runs out of gas there and the payer pays its fee.
    const short = await sign(high - 1n)
    const shortHash = await chain.reader.request({ method: 'eth_sendRawTransaction', params: [short] })
    expect((await chain.reader.waitForTransactionReceipt({ hash: shortHash, pollingInterval: 10 })).status).toBe('reverted')
    // The limit the preflight accepts succeeds.
    const { txHash } = await chain.escrow.broadcast(await sign(high))
    expect((await chain.reader.getTransactionReceipt({ hash: txHash })).status).toBe('success')
  })

  it('lets each expiring-nonce open through (a lane no longer), and charges nonce 0 on the protocol lane', async () => {
    const payer = await chain.newPayer()
    for (let i = 0; i < 2; i++) {
      const raw = await chain.signTempo(payer.client, chain.openCalls(1_000_000n), {
        gas: 3_000_000n,
        nonceKey: maxUint256,
        nonce: 0,
        validBefore: (await chain.nextBlockTime()) + 20,
      })
      const { txHash } = await chain.escrow.broadcast(raw)
      expect((await chain.reader.getTransactionReceipt({ hash: txHash })).status).toBe('success')
    }
    // The payer's protocol nonce is still 0: from T1 its first transaction there pays 250,000 for the account.
    const fresh = await chain.newPayer()
    const calls = chain.openCalls(1_000_000n)
    const first = chain.needsOf(
      await chain.expectRefused(await chain.signTempo(fresh.client, calls, { gas: 100_000n }), fresh.address, /gas/),
    )
    const expiring = chain.needsOf(
      await chain.expectRefused(
        await chain.signTempo(fresh.client, calls, {
          gas: 100_000n,
          nonceKey: maxUint256,
          nonce: 0,
          validBefore: (await chain.nextBlockTime()) + 20,
        }),
        fresh.address,
        /gas/,
      ),
    )
    expect(first - expiring).toBe(250_000n - 13_000n)
  })
})

describe('preflight on a standard (non-Tempo) anvil', () => {
  let plain: Anvil
  beforeAll(async () => {
    plain = await startAnvil({ tempo: false })
  })
  afterAll(async () => {
    await plain?.stop()
  })

  it('refuses an EIP-1559 open that would revert or whose fee exceeds the native balance, and passes exactly the gas it needs', async () => {
    const deployer = testClient(plain, testAccounts[0]!)
    const escrowAddress = await deployEscrow(deployer)
    const token = await deployTestToken(deployer)
    const chain = evmChain({ id: anvilChainId, rpcUrl: plain.rpcUrl })
    const escrow = viemEscrow({ address: escrowAddress, chain, rpcUrl: plain.rpcUrl, pollingIntervalMs: 10 })
    const account = testAccounts[1]!
    const client = testClient(plain, account)
    await mintTestToken(deployer, token, account.address, 1_000n)
    const open = encodeFunctionData({
      abi: escrowAbi,
      functionName: 'open',
      args: [testAccounts[2]!.address, token, 1_000n, nextSalt(), zeroAddress],
    })
    const sign = async ({ gas = defaultGas, maxFeePerGas = 0n } = {}) => {
      const request = await client.prepareTransactionRequest({
        to: escrowAddress,
        data: open,
        gas,
        maxFeePerGas,
        maxPriorityFeePerGas: 0n,
      } as never)
      return client.signTransaction(request as never)
    }
    const nonce = await client.getTransactionCount({ address: account.address })
    const refused = async (raw: Hex) => (await expectPaymentError(escrow.broadcast(raw), 'mpp_payment_verification_failed')).detail
    // The test token reverts a transferFrom beyond the allowance with a string.
    expect(await refused(await sign())).toMatch(/^The open call would revert: it reverts with "[^"]+"\.$/)
    expect(await refused(await sign({ maxFeePerGas: 10n ** 30n }))).toMatch(
      /^The sender cannot pay the transaction's fee: it may cost up to \d+ wei, and the sender holds \d+\.$/,
    )
    expect(await client.getTransactionCount({ address: account.address, blockTag: 'pending' })).toBe(nonce)
    await expectSuccess(
      client,
      await client.writeContract({
        address: token,
        abi: testTokenAbi,
        functionName: 'approve',
        args: [escrowAddress, 1_000n],
        gas: defaultGas,
        ...zeroFees,
      }),
    )
    const needs = BigInt(/needs about (\d+)/.exec(await refused(await sign({ gas: 30_000n })))![1]!)
    const short = await sign({ gas: needs - 1n })
    expect(await refused(short)).toMatch(/run out of gas/)
    // Sent to the chain directly, one gas less runs out of gas there: the limit is what the calls use before
    // refunds (this open clears the allowance and the balance: its receipt shows 9,600 less).
    const shortHash = await client.request({ method: 'eth_sendRawTransaction', params: [short] })
    expect((await client.waitForTransactionReceipt({ hash: shortHash })).status).toBe('reverted')
    const { txHash } = await escrow.broadcast(await sign({ gas: needs }))
    const receipt = await client.getTransactionReceipt({ hash: txHash })
    expect(receipt.status).toBe('success')
    expect(receipt.gasUsed).toBe(needs - 9_600n)
  })
})
