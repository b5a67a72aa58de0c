// An RPC proxy in front of anvil that supplies the two things the node does for
// the TIP-20 channel reserve precompile and a contract stand-in cannot:
//
// 1. The open transaction's expiringNonceHash. For `eth_sendRawTransaction` and
//    `eth_sendRawTransactionSync`, the proxy decodes the signed transaction
//    (src/session/v2/open-transaction.ts: recovered sender, keccak256(
//    encodeForSigning ‖ sender)) and, for every `open` call it makes on the
//    precompile, writes the hash into the stand-in's hand-off slot for
//    (sender, salt) with `anvil_setStorageAt` before forwarding. For `eth_call`
//    and `eth_estimateGas` it puts the node's simulation constant
//    "TEMPO_RPC_SIMULATION_MPP_CONTEXT" there instead, as a state override, so a
//    simulation writes nothing.
// 2. Approve-less reserve. The precompile moves TIP-20 with a system transfer;
//    the stand-in calls `transferFrom`, so the proxy writes the allowance that
//    the transaction's `open` and `topUp` calls will pull (payer → precompile,
//    their sum per token) into the token's allowance slot, the same way
//    (storage write for transactions, state override for simulations).
//
// Simulations are `eth_call`, `eth_estimateGas` and `eth_simulateV1`. The
// gateway's preflight (src/escrow/preflight.ts) simulates a client's open with
// `eth_simulateV1`, running the transaction's calls through its call probe
// placed at the sender: the proxy reads the calls out of the probe's calldata
// and adds the same overrides to that block. That a real Tempo node supplies
// the simulation context to `eth_simulateV1` as it does to `eth_call` is an
// assumption (documented in docs/local-chain.md).
//
// Everything else is forwarded untouched. A transaction it cannot decode is
// answered with a JSON-RPC error rather than forwarded: the proxy cannot know
// whether it opens a channel. Batch requests are refused (viem does not batch
// by default). Known gaps: two transactions from one sender opening with the
// same salt at the same time race for one hand-off slot, and a transaction
// that reverts leaves its hand-off slot and allowance behind (the next one
// through the proxy overwrites them).
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Address, createTestClient, decodeFunctionData, type Hex, http, numberToHex } from 'viem'
import { Abis } from 'viem/tempo'
import { callProbeAbi } from '../../../contracts-abi/probe/artifact.js'
import { decodeSignedTransaction, type TransactionCall } from '../../../src/session/v2/open-transaction.js'
import { tip20ChannelReserveAddress } from '../../../src/session/v2/reserve.js'
import { openContextSlot, rpcSimulationContext, tip20AllowanceSlot } from './stand-in-storage.js'

export type ReserveProxy = {
  /** The proxy's URL: give this to clients instead of anvil's. */
  url: string
  close: () => Promise<void>
}

type RpcRequest = { jsonrpc: string; id: unknown; method: string; params?: unknown[] }
type CallRequest = { from?: Address; to?: Address; data?: Hex; input?: Hex; calls?: { to?: Address; data?: Hex; input?: Hex }[] }
type StateOverride = Record<string, { stateDiff?: Record<string, Hex> }>
type SimulatedBlock = { stateOverrides?: StateOverride; calls?: CallRequest[] }

/** Storage writes a transaction (or simulation) from `sender` needs before it runs: slot → value, per account. */
type Writes = Map<Address, Map<Hex, Hex>>

/** What the node would have supplied for these calls: hand-off slots set to `context`, allowances for the pulls. */
export function reserveWrites(sender: Address, calls: readonly Pick<TransactionCall, 'to' | 'data'>[], context: Hex): Writes {
  const contexts = new Map<Hex, Hex>()
  const pulls = new Map<Address, bigint>()
  const pull = (token: Address, amount: bigint) => pulls.set(token, (pulls.get(token) ?? 0n) + amount)
  for (const call of calls) {
    if (call.to?.toLowerCase() !== tip20ChannelReserveAddress) continue
    let decoded: ReturnType<typeof decodeFunctionData<typeof Abis.tip20ChannelReserve>>
    try {
      decoded = decodeFunctionData({ abi: Abis.tip20ChannelReserve, data: call.data })
    } catch {
      continue // malformed calldata: the call reverts on chain by itself
    }
    if (decoded.functionName === 'open') {
      const [, , token, deposit, salt] = decoded.args
      contexts.set(openContextSlot(sender, salt), context)
      pull(token.toLowerCase() as Address, deposit)
    } else if (decoded.functionName === 'topUp') {
      const [descriptor, additionalDeposit] = decoded.args
      pull(descriptor.token.toLowerCase() as Address, additionalDeposit)
    }
  }
  const writes: Writes = new Map()
  if (contexts.size > 0) writes.set(tip20ChannelReserveAddress, contexts)
  for (const [token, amount] of pulls) {
    writes.set(token, new Map([[tip20AllowanceSlot(sender, tip20ChannelReserveAddress), numberToHex(amount, { size: 32 })]]))
  }
  return writes
}

export async function startReserveProxy(upstream: string): Promise<ReserveProxy> {
  const anvil = createTestClient({ mode: 'anvil', transport: http(upstream) })

  /** Rewrites `request` in place (simulations) or writes anvil's storage (transactions). */
  async function prepare(request: RpcRequest): Promise<void> {
    const params = request.params ?? []
    if (request.method === 'eth_sendRawTransaction' || request.method === 'eth_sendRawTransactionSync') {
      const tx = decodeSignedTransaction(params[0] as string)
      for (const [address, slots] of reserveWrites(tx.sender, tx.calls, tx.expiringNonceHash)) {
        for (const [index, value] of slots) await anvil.setStorageAt({ address, index, value })
      }
    } else if (request.method === 'eth_call' || request.method === 'eth_estimateGas') {
      const [call, block = 'latest', override = {}] = params as [CallRequest, unknown?, StateOverride?]
      const calls = (call.calls ?? [call]).map((c) => ({ to: c.to, data: c.data ?? c.input ?? '0x' }))
      const writes = reserveWrites(call.from ?? '0x0000000000000000000000000000000000000000', calls, rpcSimulationContext)
      if (writes.size > 0) request.params = [call, block, withWrites(override, writes)]
    } else if (request.method === 'eth_simulateV1') {
      const [simulation, ...rest] = params as [{ blockStateCalls: SimulatedBlock[] }, ...unknown[]]
      const blockStateCalls = simulation.blockStateCalls.map((simulated) => {
        const writes: Writes = new Map()
        for (const call of simulated.calls ?? []) {
          for (const [address, slots] of reserveWrites(call.from ?? zero, probedCalls(call), rpcSimulationContext)) {
            writes.set(address, new Map([...(writes.get(address) ?? []), ...slots]))
          }
        }
        return writes.size === 0 ? simulated : { ...simulated, stateOverrides: withWrites(simulated.stateOverrides ?? {}, writes) }
      })
      request.params = [{ ...simulation, blockStateCalls }, ...rest]
    }
  }

  async function answer(body: string): Promise<{ status: number; body: string }> {
    let request: RpcRequest
    try {
      request = JSON.parse(body) as RpcRequest
    } catch {
      return { status: 400, body: JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } }) }
    }
    if (Array.isArray(request)) {
      return {
        status: 200,
        body: JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'the stand-in proxy does not take batches' } }),
      }
    }
    try {
      await prepare(request)
    } catch (error) {
      const message = `stand-in proxy: ${error instanceof Error ? error.message : String(error)}`
      return { status: 200, body: JSON.stringify({ jsonrpc: '2.0', id: request.id, error: { code: -32602, message } }) }
    }
    const response = await fetch(upstream, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
    })
    return { status: response.status, body: await response.text() }
  }

  const server = createServer((req, res) => {
    readBody(req)
      .then(answer)
      .then(({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(body))
      .catch((error: unknown) => res.writeHead(502, { 'content-type': 'text/plain' }).end(String(error)))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      }),
  }
}

const zero: Address = '0x0000000000000000000000000000000000000000'

/** The override with `writes` added to its state diffs (the client's own override of an account may be keyed in another case). */
function withWrites(override: StateOverride, writes: Writes): StateOverride {
  const merged: StateOverride = { ...override }
  for (const [address, slots] of writes) {
    const key = Object.keys(merged).find((k) => k.toLowerCase() === address) ?? address
    const existing = merged[key] ?? {}
    merged[key] = { ...existing, stateDiff: { ...existing.stateDiff, ...Object.fromEntries(slots) } }
  }
  return merged
}

/** The calls a simulated call makes: the transaction's calls when it runs the preflight's call probe, else itself. */
function probedCalls(call: CallRequest): Pick<TransactionCall, 'to' | 'data'>[] {
  const data = call.data ?? call.input ?? '0x'
  try {
    const probe = decodeFunctionData({ abi: callProbeAbi, data })
    if (probe.functionName === 'run') return probe.args[2].map((c) => ({ to: c.target, data: c.data }))
  } catch {
    // not a probe run
  }
  return [{ to: call.to, data }]
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}
