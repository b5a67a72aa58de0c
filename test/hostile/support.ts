// What the hostile suite's files share: the gateway processes started by
// global-setup.ts (and any a file starts itself), seen only from outside —
// over HTTP (from 127.0.0.1, or another loopback address a gateway tells apart
// as another client), through their log lines, their memory use, the fake
// upstream's call counter and the chain. Channel state is read through the
// protocol itself (a HEAD carrying the already-accepted voucher is a management
// request answered with a receipt), balances and channels on chain with viem.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Address, encodeFunctionData, type Hex, keccak256, type LocalAccount, parseAbiItem } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { expect, inject } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { pathUsdAddress, tip20Abi } from '../../contracts-abi/tip20.js'
import { type ErrorCode, type ErrorSpec, errorCodes, problemTypeBase } from '../../src/errors/codes.js'
import type { PaymentLogEntry } from '../../src/payment/logger.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { computeChannelId } from '../../src/session/v1/channel-id.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { anvilChain, anvilChainId, fundPathUsd, gasLimits, testClient, zeroFees } from '../harness/local-chain.js'
import { fakeUpstreamAt } from '../support/fake-upstream.js'
import { fetchFrom } from '../support/fetch-from.js'
import { funder, type GatewayInstance, inputTokenPrice, outputTokenPrice, payee, realm } from './target.js'

const target = inject('hostile')

export const completionsPath = '/v1/mpp/chat/completions'
const anvil = { rpcUrl: target.rpcUrl, chain: anvilChain(target.rpcUrl, true) }
/** Reads the chain and funds payers (anvil account 0). */
export const chain = testClient(anvil, funder)
export const upstream = fakeUpstreamAt(target.upstream)
export const escrowAddress = target.escrow
export const payeeAddress = payee.address.toLowerCase() as Address

/**
 * Every JSON line `logFile` holds so far: one per decided request, the
 * server's own answers, the start line (other lines, and one still being
 * written, skipped).
 */
function logLines(logFile: string): PaymentLogEntry[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{') && line.endsWith('}'))
    .map((line) => JSON.parse(line) as PaymentLogEntry)
}

/** The log lines of every gateway process the suite started so far, the target's and the others'. */
export function allLogs(): PaymentLogEntry[] {
  return readdirSync(target.dir)
    .filter((name) => name.endsWith('.log'))
    .flatMap((name) => logLines(join(target.dir, name)))
}

/** A gateway process, seen from outside. */
function processView(instance: GatewayInstance) {
  const view = {
    url: instance.url,
    pid: instance.pid,
    logFile: instance.logFile,
    /** `fetch` on the gateway: `path` is absolute (`/v1/models`). */
    fetch: (path: string, init?: RequestInit) => fetch(`${instance.url}${path}`, init),
    /** Every log line it printed so far. */
    logs: () => logLines(instance.logFile),
    /** The log line of `response` (by its `X-Request-Id`), once the gateway's stdout reached the file. */
    async logOf(response: Response): Promise<PaymentLogEntry> {
      const requestId = response.headers.get('X-Request-Id')
      let entry: PaymentLogEntry | undefined
      await expect
        .poll(() => (entry = view.logs().find((line) => line.requestId === requestId)), { interval: 20, timeout: 5_000 })
        .toBeDefined()
      return entry!
    },
    /** Its resident memory (`VmRSS`), bytes. */
    rss(): number {
      const kiB = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${instance.pid}/status`, 'utf8'))?.[1]
      if (kiB === undefined) throw new Error(`no VmRSS for the gateway process ${instance.pid}`)
      return Number(kiB) * 1024
    },
  }
  return view
}

/** The gateway process. */
export const gateway = processView(target)
/** The second instance of the same deployment, on the same database, with short server timeouts (target.ts). */
export const other = processView(target.other)
/** A gateway process a test file started itself (`startGatewayProcess`), its log file in the suite's directory. */
export const gatewayProcess = processView
/** Where a gateway process a test file starts writes its log: beside the others, so the ledger counts its lines. */
export const logFileFor = (name: string) => join(target.dir, `gateway-${name}.log`)
/** What `startGatewayProcess` needs to start one more gateway on the suite's chain, upstream and database. */
export const processBase = {
  anvil,
  escrow: target.escrow,
  upstreamBaseUrl: `${target.upstream}/v1`,
  databaseUrl: target.databaseUrl,
}

/** A chat-completions body. */
export function chatBody(model: string, content: string | { role: string; content: unknown; name?: string }[] = 'Hello', maxTokens = 100) {
  const messages = typeof content === 'string' ? [{ role: 'user', content }] : content
  return JSON.stringify({ model, max_tokens: maxTokens, messages })
}

/** What `usage` costs at the catalogue's prices. */
export const chargeOf = (usage: { prompt_tokens: number; completion_tokens: number }) =>
  BigInt(usage.prompt_tokens) * inputTokenPrice + BigInt(usage.completion_tokens) * outputTokenPrice

// ——— the error contract (docs/errors.md, src/errors/codes.ts) ———

export type Problem = Record<string, unknown> & { code: string; detail: string; error: Record<string, unknown> }

/**
 * Asserts `response` is the envelope of `code` as the contract gives it: status,
 * problem type (`problemType` where the contract allows a more specific one),
 * title, `retryable`, the OpenAI-style `error` half, `X-Request-Id` equal to
 * the body's, `no-store`, no receipt, a fresh challenge exactly when the code
 * carries one (for this gateway's realm and method), `Retry-After` where the
 * code always has one (`retryAfter` stands in where it varies: a value or a
 * matcher). `spec` stands in for codes outside the table (`upstream_*`).
 * Returns the body.
 */
export async function expectProblem(
  response: Response,
  code: ErrorCode | `upstream_${string}`,
  options: { problemType?: string; spec?: ErrorSpec; retryAfter?: unknown } = {},
): Promise<Problem> {
  const spec: ErrorSpec = options.spec ?? errorCodes[code as ErrorCode]
  const body = JSON.parse(await response.text()) as Problem
  const requestId = response.headers.get('X-Request-Id')
  expect({ status: response.status, code: body.code }).toEqual({ status: spec.status, code })
  expect(body).toMatchObject({
    type: problemTypeBase + (options.problemType ?? spec.type),
    title: spec.title,
    status: spec.status,
    detail: expect.any(String),
    retryable: spec.retryable,
    requestId,
    error: { message: body.detail, type: spec.errorType, code, param: null, retryable: spec.retryable, request_id: requestId },
  })
  const challenge = expectProblemHeaders(response, spec, options.retryAfter)
  expect(body.challengeId).toBe(challenge?.id)
  return body
}

/** `expectProblem` for the answer to a HEAD request: its headers, as it has no body. */
export function expectHeadProblem(response: Response, code: ErrorCode): void {
  expect(response.status).toBe(errorCodes[code].status)
  expectProblemHeaders(response, errorCodes[code])
}

/** The envelope's headers; returns the first challenge when the code carries one. */
function expectProblemHeaders(response: Response, spec: ErrorSpec, retryAfter?: unknown): Challenge | undefined {
  expect(response.headers.get('Content-Type')).toBe('application/problem+json')
  expect(response.headers.get('X-Request-Id')).toMatch(/^[A-Za-z0-9._:-]{1,64}$/)
  expect(response.headers.get('Cache-Control')).toBe('no-store')
  expect(response.headers.get('Payment-Receipt')).toBeNull()
  if (retryAfter !== undefined) expect(response.headers.get('Retry-After')).toEqual(retryAfter)
  else if (spec.retryAfter !== undefined) expect(response.headers.get('Retry-After')).toBe(String(spec.retryAfter))
  const header = response.headers.get('WWW-Authenticate')
  if (!spec.challenge) {
    expect(header).toBeNull()
    return undefined
  }
  const challenges = Challenge.parseAll(header ?? '')
  expect(challenges.map(({ realm, method, intent }) => ({ realm, method, intent }))).toEqual([
    { realm, method: 'tempo', intent: 'session' },
  ])
  return challenges[0]
}

// ——— payers and channels ———

export type Payer = { account: LocalAccount; address: Address }

/** A fresh key holding `funds` pathUSD (and nothing else), so its balance tells exactly what it paid. */
export async function newPayer(funds = 10_000_000n): Promise<Payer> {
  const account = privateKeyToAccount(generatePrivateKey())
  await fundPathUsd(chain, account.address, funds)
  return { account, address: account.address.toLowerCase() as Address }
}

export type Channel = {
  payer: Payer
  channelId: Hex
  deposit: bigint
  /** Every voucher signed for this channel, by amount. */
  signed: Map<bigint, Hex>
  /** The voucher the gateway last reported as accepted (receipts and problems carry `acceptedCumulative`). */
  accepted: { amount: bigint; signature: Hex }
}

const voucherContext = { chainId: anvilChainId, escrow: target.escrow }

/** Signs (once) the voucher for `amount` on `channel`. */
export async function sign(channel: Pick<Channel, 'payer' | 'channelId' | 'signed'>, amount: bigint): Promise<Hex> {
  let signature = channel.signed.get(amount)
  if (signature === undefined) {
    signature = await signVoucher(channel.payer.account, voucherContext, { channelId: channel.channelId, cumulativeAmount: amount })
    channel.signed.set(amount, signature)
  }
  return signature
}

/** A voucher payload for `amount` (signed by the payer unless `signature` is given). */
export async function voucher(channel: Channel, amount: bigint, signature?: Hex) {
  return {
    action: 'voucher',
    channelId: channel.channelId,
    cumulativeAmount: amount.toString(),
    signature: signature ?? (await sign(channel, amount)),
  }
}

/** The payer's signed Tempo transaction: `calls` to the escrow (zero fees), not sent. */
async function signCalls(payer: Payer, calls: { to: Address; data: Hex }[]): Promise<Hex> {
  const wallet = testClient(anvil, payer.account)
  const nonce = await chain.getTransactionCount({ address: payer.address, blockTag: 'pending' })
  // The generic Chain type does not know Tempo's `calls`; the Tempo chain serializer does.
  return wallet.signTransaction({ calls, gas: gasLimits.call, nonce, ...zeroFees } as unknown as Parameters<
    typeof wallet.signTransaction
  >[0])
}

/**
 * A signed open transaction (pathUSD approve + escrow open) for a new channel
 * of `deposit` to `payee` (the target's unless given), and the channel it opens.
 */
export async function openTransaction(
  payer: Payer,
  deposit: bigint,
  payee: Address = payeeAddress,
): Promise<{ channelId: Hex; transaction: Hex }> {
  const salt = keccak256(crypto.getRandomValues(new Uint8Array(32)))
  const signer = '0x0000000000000000000000000000000000000000'
  const channelId = computeChannelId({
    payer: payer.address,
    payee,
    token: pathUsdAddress,
    salt,
    authorizedSigner: signer,
    escrow: target.escrow,
    chainId: anvilChainId,
  })
  const transaction = await signCalls(payer, [
    { to: pathUsdAddress, data: encodeFunctionData({ abi: tip20Abi, functionName: 'approve', args: [target.escrow, deposit] }) },
    {
      to: target.escrow,
      data: encodeFunctionData({ abi: escrowAbi, functionName: 'open', args: [payee, pathUsdAddress, deposit, salt, signer] }),
    },
  ])
  return { channelId, transaction }
}

/** A signed topUp transaction (approve + escrow topUp) adding `amount` to `channel`. */
export function topUpTransaction(channel: Channel, amount: bigint): Promise<Hex> {
  return signCalls(channel.payer, [
    { to: pathUsdAddress, data: encodeFunctionData({ abi: tip20Abi, functionName: 'approve', args: [target.escrow, amount] }) },
    { to: target.escrow, data: encodeFunctionData({ abi: escrowAbi, functionName: 'topUp', args: [channel.channelId, amount] }) },
  ])
}

// ——— the protocol ———

export type Init = { method: string; body?: string; headers?: Record<string, string> }
export const post = (body: string, headers: Record<string, string> = {}): Init => ({
  method: 'POST',
  body,
  headers: { 'Content-Type': 'application/json', ...headers },
})
export const head: Init = { method: 'HEAD' }

/** `Authorization: Payment …` answering `challenge` with `payload`. */
export const credential = (challenge: Challenge, payload: Record<string, unknown>) => Credential.format({ challenge, payload })

/** The receipt of a response, or undefined. */
export function receiptOf(response: Response): Receipt | undefined {
  const header = response.headers.get('Payment-Receipt')
  return header === null ? undefined : Receipt.parse(header)
}

/**
 * Keeps `channel.accepted` in step with what the gateway reports in a receipt
 * or a problem; only upwards, as the gateway's accepted amount never goes
 * down (answers to racing requests arrive in any order).
 */
export async function observe(channel: Channel, response: Response): Promise<void> {
  let reported = receiptOf(response)?.acceptedCumulative
  if (reported === undefined && response.headers.get('Content-Type') === 'application/problem+json') {
    reported = ((await response.clone().json()) as { acceptedCumulative?: string }).acceptedCumulative
  }
  if (reported === undefined) return
  const amount = BigInt(reported)
  if (amount < channel.accepted.amount) return
  const signature = channel.signed.get(amount)
  if (signature === undefined) throw new Error(`the gateway reports an accepted voucher of ${amount}, which the payer never signed`)
  channel.accepted = { amount, signature }
}

export type Paid = { response: Response; receipt: Receipt | undefined; challenge: Challenge; authorization: string }

/** The cumulative voucher a 402 asks the payer to sign, when it asks for one within the deposit. */
async function askedFor(response: Response): Promise<bigint | undefined> {
  const problem = (await response.clone().json()) as Problem
  const sign = problem.code === 'mpp_voucher_bucket_refresh_required' || problem.code === 'mpp_request_exceeds_voucher_bucket'
  return sign ? BigInt(problem.requiredCumulative as string) : undefined
}

export type Client = ReturnType<typeof clientOf>

/**
 * A client of one gateway process: `url` (the target unless given), whose
 * payee is `payee` (the target's unless given), its connections leaving from
 * the loopback address `from` (127.0.0.1 unless given; the gateway tells
 * clients apart by it, e.g. for OPEN_RATE_LIMIT).
 */
export function clientOf(options: { url?: string; payee?: Address; from?: string } = {}) {
  const url = options.url ?? target.url
  const payee = options.payee ?? payeeAddress
  const fetcher = options.from === undefined ? fetch : fetchFrom(options.from)

  /** Sends `init` to the completions route, with `authorization` as its credential when given. */
  function send(init: Init, authorization?: string): Promise<Response> {
    return fetcher(`${url}${completionsPath}`, {
      ...init,
      headers: { ...init.headers, ...(authorization === undefined ? {} : { Authorization: authorization }) },
    })
  }

  /** The challenge the gateway answers `init` (unpaid) with: a 402 `payment_required`. */
  async function challengeFor(init: Init): Promise<Challenge> {
    const response = await send(init)
    expect(response.status).toBe(402)
    if (init.method !== 'HEAD') expect(((await response.json()) as Problem).code).toBe('payment_required')
    return Challenge.parse(response.headers.get('WWW-Authenticate')!)
  }

  /** Opens a channel of `deposit` with an initial voucher for `initial`, on a HEAD management request; expects 200. */
  async function openChannel(payer: Payer, deposit = 1_000_000n, initial = deposit): Promise<Channel> {
    const { channelId, transaction } = await openTransaction(payer, deposit, payee)
    const channel: Channel = { payer, channelId, deposit, signed: new Map(), accepted: { amount: 0n, signature: '0x' } }
    const payload = {
      action: 'open',
      type: 'transaction',
      channelId,
      transaction,
      cumulativeAmount: initial.toString(),
      signature: await sign(channel, initial),
    }
    const response = await send(head, credential(await challengeFor(head), payload))
    expect(response.status).toBe(200)
    await observe(channel, response)
    expect(channel.accepted.amount).toBe(initial)
    return channel
  }

  /**
   * One paid chat request as a client makes it: the unpaid request, then the
   * paid retry with the accepted voucher (or one for `cumulative`), and when
   * the gateway asks for more (`requiredCumulative`), a voucher for that on the
   * fresh challenge. Returns the last exchange.
   */
  async function paidChat(channel: Channel, body: string, options: { cumulative?: bigint } = {}): Promise<Paid> {
    let challenge = await challengeFor(post(body))
    let amount = options.cumulative ?? channel.accepted.amount
    for (;;) {
      const authorization = credential(challenge, await voucher(channel, amount))
      const response = await send(post(body), authorization)
      await observe(channel, response)
      const asked = response.status === 402 && options.cumulative === undefined ? await askedFor(response) : undefined
      if (asked === undefined || asked <= amount) return { response, receipt: receiptOf(response), challenge, authorization }
      amount = asked
      challenge = Challenge.parse(response.headers.get('WWW-Authenticate')!)
    }
  }

  /** The channel as the gateway accounts for it, asked through the protocol: HEAD with the accepted voucher. */
  async function stateOf(channel: Channel): Promise<{ spent: bigint; acceptedCumulative: bigint }> {
    const response = await send(
      head,
      credential(await challengeFor(head), await voucher(channel, channel.accepted.amount, channel.accepted.signature)),
    )
    expect(response.status).toBe(200)
    const receipt = receiptOf(response)!
    return { spent: BigInt(receipt.spent!), acceptedCumulative: BigInt(receipt.acceptedCumulative!) }
  }

  /**
   * Everything a refused request must leave as it was: the gateway's accounting
   * of the channel, the channel on chain, the balances (with this gateway's
   * payee), and the upstream's calls.
   */
  async function snapshot(channel: Channel) {
    const [state, onchain, money, calls] = await Promise.all([
      stateOf(channel),
      onChain(channel.channelId),
      balances(channel.payer, payee),
      upstream.calls(),
    ])
    return { state, onchain, money, calls }
  }

  return { url, payee, send, challengeFor, openChannel, paidChat, stateOf, snapshot }
}

/** The target's client, from 127.0.0.1: what most files use. */
export const { send, challengeFor, openChannel, paidChat, stateOf, snapshot } = clientOf()

// ——— the chain ———

/** The channel as the escrow holds it. */
export async function onChain(channelId: Hex) {
  const { deposit, settled, finalized, closeRequestedAt } = await chain.readContract({
    address: target.escrow,
    abi: escrowAbi,
    functionName: 'getChannel',
    args: [channelId],
  })
  return { deposit, settled, finalized, closeRequestedAt }
}

export const balanceOf = (owner: Address) =>
  chain.readContract({ address: pathUsdAddress, abi: tip20Abi, functionName: 'balanceOf', args: [owner] })

/** pathUSD balances of the payer, the payee (the target's unless given) and the escrow. */
export async function balances(payer: Payer, payee: Address = payeeAddress) {
  const [ofPayer, ofPayee, ofEscrow] = await Promise.all([balanceOf(payer.address), balanceOf(payee), balanceOf(target.escrow)])
  return { payer: ofPayer, payee: ofPayee, escrow: ofEscrow }
}

const transferEvent = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 amount)')

/** The pathUSD transfers a transaction made. */
export async function transfersOf(txHash: Hex) {
  const receipt = await chain.getTransactionReceipt({ hash: txHash })
  const logs = await chain.getLogs({ address: pathUsdAddress, event: transferEvent, blockHash: receipt.blockHash })
  return logs
    .filter((log) => log.transactionHash === txHash)
    .map((log) => ({ from: log.args.from!.toLowerCase() as Address, to: log.args.to!.toLowerCase() as Address, amount: log.args.amount! }))
}

// ——— raw HTTP ———

export { exchange, type RawExchange } from '../support/raw-exchange.js'
