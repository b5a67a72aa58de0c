// The in-process paid app the middleware rows measure: the real middleware and
// the real Tempo session engine over the memory store, in front of a trivial
// route. Only the escrow is an in-memory stand-in (no chain is touched on these
// paths once a channel is known), and the logger is silent.
import { Hono } from 'hono'
import type { Address, Hex, LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { paymentErrorHandler } from '../../src/middleware/error-handler.js'
import { payment } from '../../src/middleware/payment.js'
import { fixedPrice } from '../../src/payment/pricing.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import type { RecoveryBackend } from '../../src/secp256k1/backend.js'
import { acceptVoucher, fromChain as channelFromChain } from '../../src/session/channel.js'
import { tempoSession } from '../../src/session/engine.js'
import type { Escrow, OnChainChannel } from '../../src/session/escrow.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { maxUint96 } from '../../src/session/v2/amount.js'
import { computeChannelId as computeChannelIdV2 } from '../../src/session/v2/channel-id.js'
import type { ChannelDescriptor } from '../../src/session/v2/descriptor.js'
import { signVoucher as signVoucherV2 } from '../../src/session/v2/voucher.js'
import { memoryStore } from '../../src/stores/memory.js'
import type { SessionStore } from '../../src/stores/store.js'

export const benchPath = '/v1/bench'
export const benchBodyPath = '/v1/bench-body'
export const benchBody = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'How much does this cost?' }] })
export const price = 1_000n
export const secretKey = 'bench-secret-key-at-least-32-bytes-long'
export const recipient = '0x2222222222222222222222222222222222222222' as Address
export const currency = '0x20c0000000000000000000000000000000000000' as Address
export const escrowAddress = '0x3333333333333333333333333333333333333333' as Address
export const chainId = 31337
const zeroAddress = '0x0000000000000000000000000000000000000000' as Address
/** Large enough that no run ever exhausts a channel. */
const deposit = 10n ** 30n

const hex = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString('hex')}` as Hex

/** A deterministic private key per index, so runs sign the same vouchers. */
export const privateKeyOf = (index: number) => `0x${(index + 1).toString(16).padStart(64, '0')}` as Hex

/** An escrow that knows channels without a chain: getChannel only. */
export function memoryEscrow(): Escrow & { channels: Map<Hex, OnChainChannel> } {
  const channels = new Map<Hex, OnChainChannel>()
  const unsupported = async (): Promise<never> => {
    throw new Error('the bench escrow does not send transactions')
  }
  return {
    channels,
    address: escrowAddress,
    chainId,
    canSubmit: false,
    payeeFees: async () => undefined,
    async getChannel(channelId) {
      return channels.get(channelId)
    },
    decodeTransaction: unsupported,
    broadcast: unsupported,
    settle: unsupported,
    close: unsupported,
    transactionStatus: unsupported,
  }
}

/** A channel of the bench; `descriptor` on session protocol v2. */
export type BenchChannel = { channelId: Hex; account: LocalAccount; accepted: bigint; signature: Hex; descriptor?: ChannelDescriptor }

/** Signs a voucher on the channel's protocol (v2 when it has a descriptor). */
export function signBenchVoucher(channel: BenchChannel, cumulativeAmount: bigint): Promise<Hex> {
  const voucher = { channelId: channel.channelId, cumulativeAmount }
  return channel.descriptor === undefined
    ? signVoucher(channel.account, voucherContext, voucher)
    : signVoucherV2(channel.account, voucherContext, voucher)
}

export const voucherContext = { chainId, escrow: escrowAddress }

/**
 * The unpaid twin: the same route and handler, no middleware. `benchBodyPath`
 * is the floor under the middleware: a handler that reads the body (as the
 * middleware must, to digest it) and answers JSON.
 */
export function unpaidApp() {
  const app = new Hono()
  app.onError(paymentErrorHandler)
  app.post(benchPath, (c) => c.json({ ok: true }))
  app.post(benchBodyPath, async (c) => {
    await c.req.arrayBuffer()
    return c.json({ ok: true })
  })
  return app
}

/**
 * The paid app with `channelCount` open channels already in the store, each
 * with an accepted voucher for `initialAccepted` (a bucket that covers many
 * requests).
 */
export async function paidApp(options: {
  channelCount: number
  initialAccepted: bigint
  store?: SessionStore
  /** The secp256k1 backend the engine recovers vouchers with; default: the runtime's fastest (native on Node). */
  recovery?: RecoveryBackend
  /** The session protocol (default v1); on v2 every channel has a descriptor and every payload carries it. */
  sessionProtocol?: 'v1' | 'v2'
}) {
  const v2 = options.sessionProtocol === 'v2'
  const store = options.store ?? memoryStore()
  const escrow = memoryEscrow()
  const method = tempoSession({
    escrow,
    store,
    recipient,
    currency,
    // The per-channel limit on signature recoveries (default 10/s) would cap
    // the new-voucher row; the limiter's own cost is still paid.
    verificationsPerSecond: 1_000_000_000,
    ...(options.recovery ? { recovery: options.recovery } : {}),
    ...(v2 ? { sessionProtocol: 'v2' as const } : {}),
  })
  const paid = payment({ realm: 'bench.local', secretKey, method, challenges: store, pricing: fixedPrice(price), logger: () => {} })
  const app = new Hono()
  app.onError(paymentErrorHandler)
  app.post(benchPath, paid, (c) => c.json({ ok: true }))

  const channels: BenchChannel[] = []
  for (let i = 0; i < options.channelCount; i++) {
    const account = privateKeyToAccount(privateKeyOf(i))
    const payer = account.address.toLowerCase() as Address
    const descriptor: ChannelDescriptor | undefined = v2
      ? {
          payer,
          payee: recipient,
          operator: zeroAddress,
          token: currency,
          salt: hex(crypto.getRandomValues(new Uint8Array(32))),
          authorizedSigner: zeroAddress,
          expiringNonceHash: hex(crypto.getRandomValues(new Uint8Array(32))),
        }
      : undefined
    const channelId = descriptor ? computeChannelIdV2(descriptor, escrowAddress, chainId) : hex(crypto.getRandomValues(new Uint8Array(32)))
    const chain: OnChainChannel = {
      payer,
      payee: recipient,
      token: currency,
      authorizedSigner: zeroAddress,
      // v2 amounts are uint96.
      deposit: v2 ? maxUint96 : deposit,
      settled: 0n,
      closeRequestedAt: 0n,
      finalized: false,
    }
    escrow.channels.set(channelId, chain)
    const channel: BenchChannel = {
      channelId,
      account,
      accepted: options.initialAccepted,
      signature: '0x',
      ...(descriptor ? { descriptor } : {}),
    }
    channel.signature = await signBenchVoucher(channel, options.initialAccepted)
    const now = Date.now()
    const opened = channelFromChain(channelId, chain, now, descriptor)
    const state = acceptVoucher(opened, { amount: options.initialAccepted, signature: channel.signature }, { now })
    await store.updateChannel(channelId, () => ({ state, result: undefined }))
    channels.push(channel)
  }

  const request = (headers: Record<string, string> = {}) =>
    app.request(benchPath, { method: 'POST', body: benchBody, headers: { 'Content-Type': 'application/json', ...headers } })

  /** An unpaid request: the 402 and its challenge. */
  async function challenge(): Promise<Challenge> {
    const response = await request()
    if (response.status !== 402) throw new Error(`expected 402, got ${response.status}`)
    return Challenge.parse(response.headers.get('WWW-Authenticate')!) as Challenge
  }

  /** The Authorization value paying a fresh challenge with `voucher`. */
  async function authorization(voucher: { channelId: Hex; amount: bigint; signature: Hex; descriptor?: ChannelDescriptor }) {
    const payload = {
      action: 'voucher',
      channelId: voucher.channelId,
      ...(voucher.descriptor ? { descriptor: voucher.descriptor } : {}),
      cumulativeAmount: voucher.amount.toString(),
      signature: voucher.signature,
    }
    return Credential.format({ challenge: await challenge(), payload })
  }

  /** A paid request; throws unless it was served (200 with a receipt). */
  async function pay(authorizationValue: string) {
    const response = await request({ Authorization: authorizationValue })
    if (response.status !== 200 || !response.headers.has('Payment-Receipt')) {
      throw new Error(`paid request failed: ${response.status} ${await response.text()}`)
    }
    await response.arrayBuffer()
  }

  return { app, store, escrow, method, channels, request, challenge, authorization, pay }
}
