// The published mppx 0.11 client, unmodified, paying chat completions on the
// gateway through a v1 session: run by test/interop/mppx.int.test.ts as a
// child process (it imports mppx and its viem 2.55 from this nested package).
//
// Argument: JSON { url, rpcUrl, chainId, escrow, privateKey, mode, completions, maxDeposit }.
// - mode `manager`: `sessionLegacyManager` (fetch ×N, then its own close()).
// - mode `auto`: `Mppx.create` + `sessionLegacy` in auto mode (fetch ×N).
// Both then close cooperatively with mppx's manual `close` credential for the
// amount the last receipt says was spent. Prints one JSON line: what happened.
//
// The one change to the client's world is anvil's, not mppx's: anvil's
// `eth_fillTransaction` ignores the calls of a Tempo `0x76` transaction and
// under-reports its gas (an anvil defect, docs/local-chain.md), so the RPC
// transport raises the gas it reports for such transactions to a fixed limit.
import { Mppx, sessionLegacy, sessionLegacyManager } from 'mppx/client'
import { privateKeyToAccount } from 'viem/accounts'
import { anvilClient } from './anvil-client.js'

type Input = {
  url: string
  rpcUrl: string
  chainId: number
  escrow: `0x${string}`
  privateKey: `0x${string}`
  mode: 'manager' | 'auto'
  completions: number
  maxDeposit: string
}

const input = JSON.parse(process.argv[2]!) as Input
const account = privateKeyToAccount(input.privateKey)

// anvil's defect: approve + open measures about 200k gas on T0; 1,000,000 leaves room and costs nothing at base fee 0.
const client = anvilClient(input.rpcUrl, input.chainId, 1_000_000n)
const getClient = () => client

// Every HTTP request the client sends, to report round trips per completion.
let requests = 0
const counting: typeof fetch = (resource, init) => {
  requests++
  return fetch(resource, init)
}

const ask = (i: number) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ model: 'local-echo', max_tokens: 32, messages: [{ role: 'user', content: `Question ${i}: what is a voucher?` }] }),
})

type Receipt = { channelId: string; spent: string; acceptedCumulative: string; challengeId: string; txHash?: string; units?: number }
const decodeReceipt = (header: string | null): Receipt | undefined =>
  header === null ? undefined : (JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Receipt)

const completions: { status: number; receipt: Receipt | undefined; content: string | undefined }[] = []
let managerClose: { error: string } | { receipt: Receipt | undefined } | undefined
let channelId: string | undefined
let paidRequests = 0

const method = sessionLegacy({ account, getClient, escrowContract: input.escrow, maxDeposit: input.maxDeposit })
const mppx = Mppx.create({ methods: [method], fetch: counting, polyfill: false })

if (input.mode === 'manager') {
  const manager = sessionLegacyManager({ account, getClient, escrowContract: input.escrow, maxDeposit: input.maxDeposit, fetch: counting })
  for (let i = 0; i < input.completions; i++) {
    const response = await manager.fetch(input.url, ask(i))
    const body = (await response.json()) as { choices?: { message: { content: string } }[] }
    completions.push({
      status: response.status,
      receipt: (response.receipt ?? undefined) as unknown as Receipt | undefined,
      content: body.choices?.[0]?.message.content,
    })
  }
  channelId = manager.channelId
  paidRequests = requests
  try {
    managerClose = { receipt: (await manager.close()) as unknown as Receipt | undefined }
  } catch (error) {
    managerClose = { error: error instanceof Error ? error.message : String(error) }
  }
} else {
  for (let i = 0; i < input.completions; i++) {
    const response = await mppx.fetch(input.url, ask(i))
    const body = (await response.json()) as { choices?: { message: { content: string } }[] }
    const receipt = decodeReceipt(response.headers.get('Payment-Receipt'))
    completions.push({ status: response.status, receipt, content: body.choices?.[0]?.message.content })
    channelId ??= receipt?.channelId
  }
  paidRequests = requests
}

// The cooperative close, for exactly what the last receipt says was spent, with mppx's manual close credential.
const spent = completions.at(-1)?.receipt?.spent
let close: { status: number; receipt: Receipt | undefined; problem?: unknown } | undefined
if (channelId !== undefined && spent !== undefined && !(managerClose !== undefined && 'receipt' in managerClose)) {
  const challengeResponse = await counting(input.url, { method: 'POST' })
  const credential = await mppx.createCredential(challengeResponse, { action: 'close', channelId, cumulativeAmountRaw: spent })
  const response = await counting(input.url, { method: 'POST', headers: { Authorization: credential } })
  close = {
    status: response.status,
    receipt: decodeReceipt(response.headers.get('Payment-Receipt')),
    ...(response.ok ? {} : { problem: await response.json() }),
  }
}

process.stdout.write(`${JSON.stringify({ channelId, completions, managerClose, close, paidRequests })}\n`)
