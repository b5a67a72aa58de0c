// A real local chain for the tests and the demo: spawns the anvil binary shipped in
// node_modules (no download, no npx) and gives back a viem chain object for it.
//
// Tempo mode facts this harness relies on (see docs/local-chain.md):
// - viem sends Tempo `0x76` transactions when the chain object has `feeToken`.
// - anvil's gas estimate for `0x76` transactions is wrong (53001), so every
//   transaction sent through these helpers sets `gas` itself.
// - Fees are paid in pathUSD. With `--base-fee 0` and `maxFeePerGas: 0n` a
//   transaction costs nothing, so token balances can be asserted exactly.
// - Type-2 (EIP-1559) transactions are accepted too (`anvilChain(url, false)`
//   objects send them), but their fee is paid in the sender's default fee token:
//   AlphaUSD/BetaUSD/ThetaUSD (0x20c0…01/02/03) for accounts 0/1/2, pathUSD for
//   the others. Send them with zero fees too when asserting balances.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type Account,
  type Address,
  type Chain,
  createWalletClient,
  type Hex,
  http,
  type PublicActions,
  publicActions,
  type Transport,
  type WalletClient,
} from 'viem'
import { type HDAccount, mnemonicToAccount } from 'viem/accounts'
import { escrowAbi, escrowBytecode } from '../../contracts-abi/escrow/artifact.js'
import { testTokenAbi, testTokenBytecode } from '../../contracts-abi/escrow/test-token-artifact.js'
import { pathUsdAddress, tip20Abi } from '../../contracts-abi/tip20.js'
import { evmChain, tempoChain } from '../../src/escrow/chain.js'
import { killOnExit, stopper, waitForOutput } from './processes.js'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const anvilBinary = join(repoRoot, 'node_modules', '@foundry-rs', 'anvil-linux-amd64', 'bin', 'anvil')

export const anvilChainId = 31337

/** Gas limits used when sending (anvil cannot estimate `0x76` transactions). Generous, measured use is far below. */
export const gasLimits = {
  deploy: 3_000_000n,
  call: 500_000n,
} as const

/** Zero fees: with `--base-fee 0` a transaction then pays no pathUSD fee. */
export const zeroFees = { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n } as const

export type AnvilOptions = {
  /** `--network tempo`: Tempo transactions, pathUSD predeployed. Default true. */
  tempo?: boolean
  /** Milliseconds to wait for the "Listening on" line. Default 15000. */
  startTimeoutMs?: number
  /** `--hardfork` (Tempo mode: t0–t4); anvil's default (T0) when absent. */
  hardfork?: string
}

export type Anvil = {
  rpcUrl: string
  port: number
  chain: Chain
  tempo: boolean
  pid: number
  /** Milliseconds from spawn to the "Listening on" line. */
  startMs: number
  /** The last output anvil printed (for failure messages). */
  output: () => string
  /** Kills anvil by its PID and waits for it to exit. Safe to call twice. */
  stop: () => Promise<void>
}

/** The chain object viem needs to talk to this anvil. */
export function anvilChain(rpcUrl: string, tempo: boolean): Chain {
  if (!tempo) return evmChain({ id: anvilChainId, rpcUrl })
  // `feeToken` on the chain makes viem's Tempo config send 0x76 transactions paying fees in pathUSD.
  return tempoChain({ id: anvilChainId, rpcUrl, feeToken: pathUsdAddress })
}

export async function startAnvil(options: AnvilOptions = {}): Promise<Anvil> {
  const tempo = options.tempo ?? true
  if (!existsSync(anvilBinary)) throw new Error(`anvil binary not found at ${anvilBinary}`)

  const args = ['--host', '127.0.0.1', '--port', '0', '--chain-id', String(anvilChainId), '--base-fee', '0']
  if (tempo) args.push('--network', 'tempo')
  if (options.hardfork !== undefined) args.push('--hardfork', options.hardfork)

  const started = performance.now()
  // Spawned directly (not via npx) so the PID we hold is anvil's own.
  const child = killOnExit(spawn(anvilBinary, args, { stdio: ['ignore', 'pipe', 'pipe'] }))
  const stop = stopper(child)

  // Keep draining both streams for the whole life of the process (a full pipe
  // would block anvil); remember the tail for error messages.
  const tail: string[] = []
  const remember = (chunk: Buffer) => {
    tail.push(chunk.toString())
    if (tail.length > 50) tail.shift()
  }
  child.stdout!.on('data', remember)
  child.stderr!.on('data', remember)

  const listening = await waitForOutput(child, /Listening on 127\.0\.0\.1:(\d+)/, {
    what: 'anvil',
    timeoutMs: options.startTimeoutMs ?? 15_000,
    diagnostics: () => tail.join(''),
  })
  const port = Number(listening[1])
  const rpcUrl = `http://127.0.0.1:${port}`
  return {
    rpcUrl,
    port,
    chain: anvilChain(rpcUrl, tempo),
    tempo,
    pid: child.pid!,
    startMs: performance.now() - started,
    output: () => tail.join(''),
    stop,
  }
}

export const testMnemonic = 'test test test test test test test test test test test junk'

/**
 * The first ten anvil dev accounts. Each holds ETH; in Tempo mode also 2^64-1
 * base units of pathUSD, AlphaUSD, BetaUSD and ThetaUSD.
 */
export const testAccounts: readonly HDAccount[] = Array.from({ length: 10 }, (_, i) => mnemonicToAccount(testMnemonic, { addressIndex: i }))

/** A wallet client that can also read (public actions), bound to one account. */
export type TestClient = WalletClient<Transport, Chain, Account> & PublicActions<Transport, Chain, Account>

export function testClient(anvil: Pick<Anvil, 'rpcUrl' | 'chain'>, account: Account): TestClient {
  // Measured: about one receipt in five is not there yet when eth_sendRawTransaction
  // returns (the block lands a few ms later, for 0x76 and type-2 alike). viem then
  // polls, by default every 4 s for `foundry`; poll fast instead. cacheTime 0 keeps
  // getBlockNumber from answering a stale cached number.
  return createWalletClient({
    account,
    chain: anvil.chain,
    transport: http(anvil.rpcUrl),
    pollingInterval: 10,
    cacheTime: 0,
  }).extend(publicActions) as unknown as TestClient
}

/** Waits for a receipt and throws if the transaction reverted (anvil mines it when sent). */
export async function expectSuccess(client: TestClient, hash: Hex) {
  const receipt = await client.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new Error(`transaction ${hash} reverted (gasUsed ${receipt.gasUsed})`)
  return receipt
}

/**
 * Sends one Tempo `0x76` transaction carrying several calls (e.g. pathUSD
 * `approve` then escrow `open`, the spec's open transaction), gas set, zero fees.
 * Tempo mode only.
 */
export async function sendTempoCalls(client: TestClient, calls: readonly { to: Address; data: Hex }[], gas: bigint = gasLimits.call) {
  // The generic `Chain` type does not know Tempo's `calls` field; the runtime chain object does.
  const request = { calls, gas, ...zeroFees } as unknown as Parameters<TestClient['sendTransaction']>[0]
  return expectSuccess(client, await client.sendTransaction(request))
}

/** Deploys the escrow with an explicit gas limit; returns its address, lowercase. */
export async function deployEscrow(client: TestClient): Promise<Address> {
  const hash = await client.deployContract({ abi: escrowAbi, bytecode: escrowBytecode, gas: gasLimits.deploy, ...zeroFees })
  const receipt = await expectSuccess(client, hash)
  if (!receipt.contractAddress) throw new Error(`escrow deploy ${hash} created no contract`)
  return receipt.contractAddress.toLowerCase() as Address
}

/** Transfers pathUSD from the client's account (Tempo mode only). */
export async function fundPathUsd(client: TestClient, to: Address, amount: bigint) {
  const hash = await client.writeContract({
    address: pathUsdAddress,
    abi: tip20Abi,
    functionName: 'transfer',
    args: [to, amount],
    gas: gasLimits.call,
    ...zeroFees,
  })
  return expectSuccess(client, hash)
}

export async function pathUsdBalance(client: Pick<TestClient, 'readContract'>, address: Address): Promise<bigint> {
  return client.readContract({ address: pathUsdAddress, abi: tip20Abi, functionName: 'balanceOf', args: [address] })
}

/**
 * Deploys the test ERC-20 (contracts-abi/escrow/TestToken.sol), for standard
 * (non-Tempo) anvil where pathUSD does not exist. Returns its address, lowercase.
 */
export async function deployTestToken(client: TestClient): Promise<Address> {
  const hash = await client.deployContract({ abi: testTokenAbi, bytecode: testTokenBytecode, gas: gasLimits.deploy, ...zeroFees })
  const receipt = await expectSuccess(client, hash)
  if (!receipt.contractAddress) throw new Error(`test token deploy ${hash} created no contract`)
  return receipt.contractAddress.toLowerCase() as Address
}

/** Mints test tokens (anyone may mint on TestToken). */
export async function mintTestToken(client: TestClient, token: Address, to: Address, amount: bigint) {
  const hash = await client.writeContract({
    address: token,
    abi: testTokenAbi,
    functionName: 'mint',
    args: [to, amount],
    gas: gasLimits.call,
    ...zeroFees,
  })
  return expectSuccess(client, hash)
}
