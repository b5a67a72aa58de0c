// The session engine without a web framework and without a chain: the
// framework-free payment handler in front of `tempoSession`, the memory store
// and the in-memory escrow, and a payer that signs real transactions and
// vouchers. Fast: for engine tests that need no anvil.
import { encodeFunctionData, type Hex, keccak256 } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { paymentHandler } from '../../src/payment/handler.js'
import type { PaymentLogEntry } from '../../src/payment/logger.js'
import { type Cost, fixedPrice } from '../../src/payment/pricing.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { tempoSession } from '../../src/session/engine.js'
import type { TempoSessionOptions } from '../../src/session/options.js'
import { computeChannelId } from '../../src/session/v1/channel-id.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { memoryStore } from '../../src/stores/memory.js'
import type { SessionStore } from '../../src/stores/store.js'
import { memoryChainId, memoryEscrow, memoryEscrowAddress } from './memory-escrow.js'

export const payee = '0x2222222222222222222222222222222222222222'
export const token = '0x20c0000000000000000000000000000000000000'
export const price = 1_000n
export const origin = 'https://api.test'
export const payer = privateKeyToAccount(`0x${'01'.padStart(64, '0')}`)
export const voucherContext = { chainId: memoryChainId, escrow: memoryEscrowAddress }

/** A request as the tests send it: a method, an optional body (a content request is a POST with a body), a path, the client's address. */
export type Shape = { method?: string; body?: string; path?: string; client?: string }
const contentShape: Shape = { method: 'POST', body: '{}' }

/** `store`: the adapter the engine and its challenges run on (default: the memory store, on the engine's clock). */
export function engineFixture(options: Partial<Omit<TempoSessionOptions, 'store'>> & { store?: SessionStore } = {}) {
  const book = memoryEscrow()
  // The store keeps the engine's clock: rate-limit windows move with it.
  const store = options.store ?? memoryStore(options.now ? { now: options.now } : {})
  const backgroundErrors: unknown[] = []
  const session = tempoSession({
    escrow: book.escrow,
    recipient: payee,
    currency: token,
    minDeposit: 10_000n,
    onBackgroundError: (error) => backgroundErrors.push(error),
    ...options,
    store,
  })
  let served = 0
  const logs: PaymentLogEntry[] = []
  // What the route handler reports having consumed; undefined: the whole quote.
  let handlerCost: Cost | undefined
  const handle = paymentHandler({
    realm: 'api.test',
    secretKey: 'engine-test-secret-key-at-least-32-bytes',
    method: session,
    challenges: store,
    pricing: fixedPrice(price),
    // As the chat route: content is a POST with a body; HEAD, GET and a bodiless POST are management.
    servesContent: (request, body) => request.method === 'POST' && body.length > 0,
    logger: (entry) => logs.push(entry),
  })

  const requestOf = ({ method = 'POST', body, path = '/v1/paid' }: Shape, headers: Record<string, string> = {}) =>
    new Request(`${origin}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })

  /** Runs one request through the handler, and (when it is served) a trivial route handler, then completion. */
  async function exchange(shape: Shape, headers: Record<string, string> = {}) {
    const outcome = await handle(requestOf(shape, headers), shape.client === undefined ? {} : { client: shape.client })
    if (outcome.kind === 'respond') return outcome.response
    served++
    return outcome.complete({ response: Response.json({ served: true }), ...(handlerCost === undefined ? {} : { cost: handlerCost }) })
  }

  /** The challenge a request of `shape` gets unpaid. */
  async function challengeFor(shape: Shape = contentShape) {
    const unpaid = await exchange(shape)
    if (unpaid.status !== 402) throw new Error(`expected a 402, got ${unpaid.status}`)
    return Challenge.parse(unpaid.headers.get('WWW-Authenticate')!)
  }

  /** Pays `payload` with `challenge` (default: a fresh one for the same shape) on a request of `shape`. */
  async function pay(payload: Record<string, unknown>, shape: Shape = contentShape, challenge?: Challenge) {
    const answered = challenge ?? (await challengeFor(shape))
    return exchange(shape, { Authorization: Credential.format({ challenge: answered, payload }) })
  }

  async function openPayload(deposit = 100_000n, cumulativeAmount = 10_000n) {
    const salt = keccak256(new TextEncoder().encode(`salt-${Math.random()}`))
    const signer = '0x0000000000000000000000000000000000000000'
    const data = encodeFunctionData({ abi: escrowAbi, functionName: 'open', args: [payee, token, deposit, salt, signer] })
    const transaction = await payer.signTransaction({
      type: 'eip1559',
      chainId: memoryChainId,
      to: memoryEscrowAddress,
      data,
      nonce: 0,
      gas: 300_000n,
      maxFeePerGas: 0n,
      maxPriorityFeePerGas: 0n,
    })
    const channelId = computeChannelId({
      payer: payer.address,
      payee,
      token,
      salt,
      authorizedSigner: signer,
      escrow: memoryEscrowAddress,
      chainId: memoryChainId,
    })
    const signature = await signVoucher(payer, voucherContext, { channelId, cumulativeAmount })
    return {
      channelId,
      payload: { action: 'open', type: 'transaction', channelId, transaction, cumulativeAmount: `${cumulativeAmount}`, signature },
    }
  }

  async function topUpPayload(channelId: Hex, additionalDeposit: bigint, nonce = 1) {
    const data = encodeFunctionData({ abi: escrowAbi, functionName: 'topUp', args: [channelId, additionalDeposit] })
    const transaction = await payer.signTransaction({
      type: 'eip1559',
      chainId: memoryChainId,
      to: memoryEscrowAddress,
      data,
      nonce,
      gas: 300_000n,
      maxFeePerGas: 0n,
      maxPriorityFeePerGas: 0n,
    })
    return { action: 'topUp', type: 'transaction', channelId, transaction, additionalDeposit: `${additionalDeposit}` }
  }

  const voucher = async (channelId: Hex, amount: bigint, action: 'voucher' | 'close' = 'voucher') => ({
    action,
    channelId,
    cumulativeAmount: `${amount}`,
    signature: await signVoucher(payer, voucherContext, { channelId, cumulativeAmount: amount }),
  })

  return {
    book,
    store,
    logs,
    /** Makes the route handler report `cost` from now on. */
    reportCost: (cost: Cost) => {
      handlerCost = cost
    },
    session,
    exchange,
    challengeFor,
    pay,
    openPayload,
    topUpPayload,
    voucher,
    backgroundErrors,
    served: () => served,
  }
}

export const problem = async (response: Response) =>
  (await response.json()) as Record<string, string> & { code: string; detail: string; type: string }
