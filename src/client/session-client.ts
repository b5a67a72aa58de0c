import {
  type Address,
  type Chain,
  createWalletClient,
  encodeFunctionData,
  type Hex,
  keccak256,
  type LocalAccount,
  maxUint128,
  maxUint256,
  publicActions,
  type Transport,
} from 'viem'
import { Abis } from 'viem/tempo'
import { z } from 'zod'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { tip20Abi } from '../../contracts-abi/tip20.js'
import { parseConfig } from '../errors/config-error.js'
import { Challenge, type JsonObject, nextChallengeHeader } from '../protocol/challenge.js'
import { Credential } from '../protocol/credential.js'
import { Receipt } from '../protocol/receipt.js'
import { parseRetryAfter } from '../protocol/retry-after.js'
import { readEvents, type ServerSentEvent } from '../protocol/sse.js'
import { computeChannelId } from '../session/v1/channel-id.js'
import { signVoucher } from '../session/v1/voucher.js'
import { maxUint96 } from '../session/v2/amount.js'
import { computeChannelId as computeChannelIdV2 } from '../session/v2/channel-id.js'
import { type ChannelDescriptor, zeroAddress } from '../session/v2/descriptor.js'
import { decodeSignedTransaction } from '../session/v2/open-transaction.js'
import { signVoucher as signVoucherV2 } from '../session/v2/voucher.js'
import { integer } from '../util/config.js'
import { SessionClientError } from './errors.js'

export type SessionClientOptions = {
  /** The payer: signs open/topUp transactions and vouchers. */
  account: LocalAccount
  /** The chain to sign for; a Tempo chain object with `feeToken` makes Tempo `0x76` transactions. */
  chain: Chain
  /** Transport to the chain's RPC (nonces, and the approve an EIP-1559 open needs first). */
  transport: Transport
  /**
   * `tempo` (default): one `0x76` transaction with approve + open (v2: the open alone, on an expiring nonce, as
   * mppx's client). `eip1559`: approve sent first, then a type-2 open (v2: no approve).
   */
  transactionType?: 'tempo' | 'eip1559'
  /** Deposit for new channels. Default: the challenge's `suggestedDeposit`. */
  deposit?: bigint
  /** Gas limit of the transactions the client signs (Tempo nodes may not estimate `0x76`). Default 500,000. */
  gas?: bigint
  fees?: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  /** Largest cumulative amount this client will ever sign on one channel. Default: the deposit. */
  maxCumulative?: bigint
  /**
   * Waiting on `429` and `503` (their `Retry-After`, seconds or an HTTP date): at most
   * `maxRetries` waits per `fetch` (default 3), none longer than `maxWaitMs` (default
   * 30,000); past either, `fetch` throws `retry_exhausted`.
   */
  retry?: { maxRetries?: number; maxWaitMs?: number }
  /**
   * Ask each paid answer for the next request's challenge (`MPP-Next-Challenge`) and pay each request with the
   * one the previous paid response of the same method and URL carried (`WWW-Authenticate` on a 200), unexpired:
   * one round trip per request while the voucher covers it, instead of a 402 first. Default false.
   */
  nextChallenge?: boolean
  fetch?: typeof globalThis.fetch
}

const retrySchema = z.object({ maxRetries: integer(0).optional(), maxWaitMs: integer(0).optional() })

// A next challenge this close to its expiry is not used: the request could arrive after it.
const expiryMarginMs = 5_000

/** How long a v2 open on an expiring nonce stays valid, from the latest block's time (Tempo allows at most 30 s). */
const expiringOpenSeconds = 25n
/** Tempo's expiring-nonce lane (TIP-1009): nonce key 2^256 − 1, nonce 0, bounded by validBefore. */
const expiringNonceKey = maxUint256

/** What the client knows of one of its channels. */
export type ClientChannel = {
  /** Session protocol v2 (the challenge said so when it was opened): the channel's descriptor, sent in every payload. Absent on v1. */
  descriptor?: ChannelDescriptor
  channelId: Hex
  escrow: Address
  chainId: number
  payee: Address
  token: Address
  deposit: bigint
  /** Highest cumulative amount signed, and its signature. */
  signedCumulative: bigint
  signature: Hex
  /** From the latest receipt. */
  spent: bigint
  /** Hash of the signed open transaction (the server broadcasts it). */
  openTxHash: Hex
}

/** A metered stream's `payment-need-voucher` data (session spec §Insufficient Balance During Streaming). */
type VoucherNeed = { channelId: Hex; requiredCumulative: string; acceptedCumulative: string; deposit: string }

/** A metered stream as `stream` answers it. */
export type MeteredStream = {
  /** The response (its status and headers, the initial `Payment-Receipt`); its body is read through `events`. */
  response: Response
  /** The stream's events but the payment ones, which the client answers itself. */
  events: AsyncGenerator<ServerSentEvent>
  /** The final `payment-receipt` event's receipt, once the stream sent it. */
  receipt(): Receipt | undefined
}

type RequestInit = { method?: string; headers?: Record<string, string>; body?: string | Uint8Array; signal?: AbortSignal }

// Rounds answering a 402 with nothing new to send (the same voucher again, a second top-up) before giving up.
const maxIdleRounds = 4

type Problem = { code?: unknown; detail?: unknown; retryable?: unknown; requiredCumulative?: unknown }

/** The problem in an error response's body (read from a copy: the response stays unread), or nothing. */
const problemOf = async (response: Response): Promise<Problem> =>
  ((await response
    .clone()
    .json()
    .catch(() => ({}))) ?? {}) as Problem

/** The client stopping on `response`: its status, its problem's code, its `Retry-After`, and the response itself. */
function gaveUp(code: 'payment_refused' | 'retry_exhausted', response: Response, problem: Problem, why: string) {
  const problemCode = typeof problem.code === 'string' ? problem.code : undefined
  const retryAfter = parseRetryAfter(response.headers.get('Retry-After'))
  const answer = problemCode === undefined ? `${response.status}` : `${response.status} ${problemCode}`
  return new SessionClientError(code, `gave up on ${answer}: ${why}`, {
    status: response.status,
    ...(problemCode === undefined ? {} : { problemCode }),
    ...(retryAfter === undefined ? {} : { retryAfter }),
    response,
  })
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** A refused management action, with the server's problem code and detail (never the credential). */
async function refused(action: string, response: Response): Promise<SessionClientError> {
  const problem = await problemOf(response)
  const problemCode = typeof problem.code === 'string' ? problem.code : undefined
  return new SessionClientError(
    'refused',
    `${action} refused: ${response.status} ${problemCode ?? ''} ${String(problem.detail ?? '')}`.trim(),
    { status: response.status, ...(problemCode === undefined ? {} : { problemCode }) },
  )
}

/**
 * A client of the Tempo session intent: answers `402` challenges by opening a
 * channel on the escrow (or reusing one), signing cumulative vouchers for what
 * the server asks (never above the deposit), topping up and closing.
 */
export type SessionClient = ReturnType<typeof sessionClient>

export function sessionClient(options: SessionClientOptions) {
  const { account } = options
  const payer = account.address.toLowerCase() as Address
  const wallet = createWalletClient({
    account,
    chain: options.chain,
    transport: options.transport,
    pollingInterval: 50,
    cacheTime: 0,
  }).extend(publicActions)
  const fetcher = options.fetch ?? globalThis.fetch
  const gas = options.gas ?? 500_000n
  const retry = parseConfig(retrySchema, options.retry ?? {}, 'sessionClient.retry')
  const maxRetries = retry.maxRetries ?? 3
  const maxWaitMs = retry.maxWaitMs ?? 30_000
  const channels = new Map<string, ClientChannel>()
  // The challenge the last paid response carried, per `METHOD url`; each is used once.
  const nextChallenges = new Map<string, Challenge>()
  const routeKey = (url: string, init: RequestInit) => `${(init.method ?? 'GET').toUpperCase()} ${url}`

  /** Sends the request, with a credential in the field its challenge selects (draft-httpauth-payment-02). */
  // With `nextChallenge`, every request asks that its paid answer carry the next request's challenge.
  const asked = options.nextChallenge ? { [nextChallengeHeader]: '1' } : {}
  const send = (url: string, init: RequestInit, credential?: { value: string; field: string }) =>
    fetcher(url, { ...init, headers: { ...init.headers, ...asked, ...(credential ? { [credential.field]: credential.value } : {}) } })

  function sessionChallenge(response: Response): Challenge | undefined {
    const header = response.headers.get('WWW-Authenticate')
    if (header === null) return undefined
    try {
      return Challenge.parseAll(header).find((challenge) => challenge.method === 'tempo' && challenge.intent === 'session')
    } catch {
      return undefined
    }
  }

  function terms(challenge: Challenge) {
    const request = Challenge.request(challenge)
    const details = (request.methodDetails ?? {}) as JsonObject
    const escrow = String(details.escrowContract).toLowerCase() as Address
    const payee = String(request.recipient).toLowerCase() as Address
    const token = String(request.currency).toLowerCase() as Address
    return {
      // Session spec §Protocol Versions: no sessionProtocol means v1.
      protocol: details.sessionProtocol === 'v2' ? ('v2' as const) : ('v1' as const),
      operator: (typeof details.operator === 'string' ? details.operator.toLowerCase() : zeroAddress) as Address,
      escrow,
      payee,
      token,
      chainId: Number(details.chainId),
      amount: BigInt(String(request.amount)),
      suggestedDeposit: request.suggestedDeposit === undefined ? undefined : BigInt(String(request.suggestedDeposit)),
      requiredCumulative: details.requiredCumulative === undefined ? undefined : BigInt(String(details.requiredCumulative)),
      key: `${escrow}|${payee}|${token}`,
    }
  }

  /** Signs a voucher in the channel's protocol: v1 the escrow's EIP-712 domain, v2 TIP20 Channel Reserve's. */
  function sign(channel: ClientChannel, cumulativeAmount: bigint): Promise<Hex> {
    const voucher = { channelId: channel.channelId, cumulativeAmount }
    return channel.descriptor !== undefined ? signVoucherV2(account, channel, voucher) : signVoucher(account, channel, voucher)
  }

  /** v2 payloads carry the channel's descriptor. */
  const described = (channel: ClientChannel) => (channel.descriptor === undefined ? {} : { descriptor: channel.descriptor })

  /** Signs a v2 transaction with its one call on the channel reserve: a `0x76` on an expiring nonce, or type 2. */
  async function signReserveCall(to: Address, data: Hex): Promise<Hex> {
    if (options.transactionType === 'eip1559') return signTransaction(to, data)
    const fees = options.fees ?? {}
    const { timestamp } = await wallet.getBlock({ blockTag: 'latest' })
    const request = {
      calls: [{ to, data }],
      gas,
      nonceKey: expiringNonceKey,
      nonce: 0,
      validBefore: Number(timestamp + expiringOpenSeconds),
      ...fees,
    }
    // The generic Chain type does not know Tempo's `calls`, `nonceKey` or `validBefore`; the Tempo chain serializer does.
    return wallet.signTransaction(request as unknown as Parameters<typeof wallet.signTransaction>[0])
  }

  async function signTransaction(to: Address, data: Hex, approve?: { token: Address; amount: bigint }): Promise<Hex> {
    const fees = options.fees ?? {}
    if (options.transactionType === 'eip1559') {
      if (approve) {
        const hash = await wallet.writeContract({
          address: approve.token,
          abi: tip20Abi,
          functionName: 'approve',
          args: [to, approve.amount],
          gas,
          ...fees,
        })
        const receipt = await wallet.waitForTransactionReceipt({ hash })
        if (receipt.status !== 'success') throw new SessionClientError('transaction_reverted', 'the approve transaction reverted')
      }
      const nonce = await wallet.getTransactionCount({ address: payer, blockTag: 'pending' })
      return wallet.signTransaction({ to, data, gas, nonce, type: 'eip1559', ...fees } as Parameters<typeof wallet.signTransaction>[0])
    }
    const nonce = await wallet.getTransactionCount({ address: payer, blockTag: 'pending' })
    const calls = approve
      ? [
          { to: approve.token, data: encodeFunctionData({ abi: tip20Abi, functionName: 'approve', args: [to, approve.amount] }) },
          { to, data },
        ]
      : [{ to, data }]
    // The generic Chain type does not know Tempo's `calls`; the Tempo chain serializer does.
    return wallet.signTransaction({ calls, gas, nonce, ...fees } as unknown as Parameters<typeof wallet.signTransaction>[0])
  }

  async function voucherPayload(channel: ClientChannel, target: bigint): Promise<JsonObject> {
    const ceiling = options.maxCumulative ?? channel.deposit
    if (target > ceiling)
      throw new SessionClientError('limit_exceeded', `refusing to sign ${target}: above this channel's limit ${ceiling}`)
    if (target > channel.signedCumulative) {
      const signature = await sign(channel, target)
      // A concurrent request may have signed higher while this one signed: the channel keeps the highest.
      if (target > channel.signedCumulative) {
        channel.signature = signature
        channel.signedCumulative = target
      }
    }
    return {
      action: 'voucher',
      channelId: channel.channelId,
      ...described(channel),
      cumulativeAmount: channel.signedCumulative.toString(),
      signature: channel.signature,
    }
  }

  async function openPayload(challenge: Challenge): Promise<JsonObject> {
    const t = terms(challenge)
    const deposit = options.deposit ?? t.suggestedDeposit
    if (deposit === undefined) throw new SessionClientError('deposit_unknown', 'no deposit configured and the challenge suggests none')
    const salt = keccak256(crypto.getRandomValues(new Uint8Array(32)))
    const opened = t.protocol === 'v2' ? await openV2(t, deposit, salt) : await openV1(t, deposit, salt)
    const { channelId, transaction } = opened
    const initial = t.requiredCumulative ?? t.amount
    const cumulativeAmount = initial > deposit ? deposit : initial
    const channel: ClientChannel = {
      ...(opened.descriptor === undefined ? {} : { descriptor: opened.descriptor }),
      channelId,
      escrow: t.escrow,
      chainId: t.chainId,
      payee: t.payee,
      token: t.token,
      deposit,
      signedCumulative: cumulativeAmount,
      spent: 0n,
      signature: '0x',
      openTxHash: keccak256(transaction),
    }
    channel.signature = await sign(channel, cumulativeAmount)
    channels.set(t.key, channel)
    return {
      action: 'open',
      type: 'transaction',
      channelId,
      ...described(channel),
      transaction,
      cumulativeAmount: cumulativeAmount.toString(),
      signature: channel.signature,
    }
  }

  /** A v1 open: approve and open on the escrow contract; the id from the arguments and the payer. */
  async function openV1(t: ReturnType<typeof terms>, deposit: bigint, salt: Hex) {
    const authorizedSigner = zeroAddress
    const channelId = computeChannelId({
      payer,
      payee: t.payee,
      token: t.token,
      salt,
      authorizedSigner,
      escrow: t.escrow,
      chainId: t.chainId,
    })
    const data = encodeFunctionData({ abi: escrowAbi, functionName: 'open', args: [t.payee, t.token, deposit, salt, authorizedSigner] })
    const transaction = await signTransaction(t.escrow, data, { token: t.token, amount: deposit })
    return { channelId, transaction, descriptor: undefined }
  }

  /**
   * A v2 open: one call on the channel reserve, which pulls the deposit itself (no approve). The descriptor's
   * expiringNonceHash comes from the signed transaction, so the id is known only once it is signed.
   */
  async function openV2(t: ReturnType<typeof terms>, deposit: bigint, salt: Hex) {
    if (deposit > maxUint96) throw new SessionClientError('limit_exceeded', `a v2 deposit is at most 2^96 - 1; ${deposit} is not`)
    const args = [t.payee, t.operator, t.token, deposit, salt, zeroAddress] as const
    const transaction = await signReserveCall(t.escrow, encodeFunctionData({ abi: Abis.tip20ChannelReserve, functionName: 'open', args }))
    const { expiringNonceHash } = decodeSignedTransaction(transaction)
    const descriptor: ChannelDescriptor = {
      payer,
      payee: t.payee,
      operator: t.operator,
      token: t.token,
      salt,
      authorizedSigner: zeroAddress,
      expiringNonceHash,
    }
    return { channelId: computeChannelIdV2(descriptor, t.escrow, t.chainId), transaction, descriptor }
  }

  async function topUpPayload(channel: ClientChannel, additionalDeposit: bigint): Promise<JsonObject> {
    const { descriptor } = channel
    let transaction: Hex
    if (descriptor !== undefined) {
      // v2: uint96 amounts; the reserve pulls the deposit itself.
      if (additionalDeposit <= 0n || additionalDeposit > maxUint96) throw new Error(`cannot top up by ${additionalDeposit}`)
      const data = encodeFunctionData({ abi: Abis.tip20ChannelReserve, functionName: 'topUp', args: [descriptor, additionalDeposit] })
      transaction = await signReserveCall(channel.escrow, data)
    } else {
      // topUp takes a uint256, but deposits are uint128 on chain and the escrow refuses 0.
      if (additionalDeposit <= 0n || additionalDeposit > maxUint128) throw new Error(`cannot top up by ${additionalDeposit}`)
      const data = encodeFunctionData({ abi: escrowAbi, functionName: 'topUp', args: [channel.channelId, additionalDeposit] })
      transaction = await signTransaction(channel.escrow, data, { token: channel.token, amount: additionalDeposit })
    }
    return {
      action: 'topUp',
      type: 'transaction',
      channelId: channel.channelId,
      ...described(channel),
      transaction,
      additionalDeposit: additionalDeposit.toString(),
    }
  }

  function remember(response: Response) {
    const header = response.headers.get('Payment-Receipt')
    if (header === null) return
    const receipt = Receipt.parse(header)
    const channel = [...channels.values()].find((known) => known.channelId === receipt.channelId)
    if (channel !== undefined && typeof receipt.spent === 'string') channel.spent = BigInt(receipt.spent)
  }

  /** Sends a credential for `payload` answering `challenge`; returns the response. */
  async function pay(url: string, init: RequestInit, challenge: Challenge, payload: JsonObject) {
    const value = Credential.format({ challenge, payload, source: `did:pkh:eip155:${terms(challenge).chainId}:${payer}` })
    const response = await send(url, init, { value, field: Challenge.credentialHeader(challenge) })
    remember(response)
    const next = options.nextChallenge && response.status === 200 ? sessionChallenge(response) : undefined
    if (next !== undefined) nextChallenges.set(routeKey(url, init), next)
    return response
  }

  /** Gets a fresh challenge for this exact request (method, URL and body are bound into it). */
  async function challengeFor(url: string, init: RequestInit) {
    const response = await send(url, init)
    const challenge = response.status === 402 ? sessionChallenge(response) : undefined
    if (challenge === undefined) {
      throw new SessionClientError('challenge_missing', `expected a 402 session challenge, got ${response.status}`, {
        status: response.status,
      })
    }
    return challenge
  }

  async function topUpChannel(url: string, init: RequestInit, challenge: Challenge, channel: ClientChannel, amount: bigint) {
    const response = await pay(url, init, challenge, await topUpPayload(channel, amount))
    if (response.status !== 200) throw await refused('top-up', response)
    channel.deposit += amount
    return Receipt.parse(response.headers.get('Payment-Receipt')!)
  }

  const client = {
    /** The channels this client opened, keyed by `escrow|payee|token`. */
    channels,

    /**
     * `fetch` that pays: an unpaid request (or, with `nextChallenge`, one paid with the
     * challenge the last paid response on this method and URL carried), then answers to each 402 (open a
     * channel, sign the voucher the server asks for, top up when the deposit is
     * short), and waits out each 429 or 503 for its `Retry-After` before sending
     * the same request again (bounded by `retry`). A round that sends something
     * new (a channel, a higher voucher, a first top-up) is progress; at most
     * four rounds without it. Returns the first other answer; throws
     * `payment_refused` or `retry_exhausted` when it gives up.
     */
    async fetch(url: string, init: RequestInit = {}): Promise<Response> {
      // Sends the last request again exactly as it went (a released challenge pays again after a 429 or 503).
      let again = () => send(url, init)
      // The highest voucher this request has sent.
      let sent: bigint | undefined
      const next = nextChallenges.get(routeKey(url, init))
      nextChallenges.delete(routeKey(url, init))
      const channel =
        next !== undefined && Date.parse(next.expires ?? '') > Date.now() + expiryMarginMs ? channels.get(terms(next).key) : undefined
      if (channel !== undefined) {
        // Paid at once with the latest voucher; a 402 asking for more is answered below like any other.
        const payload = await voucherPayload(channel, 0n)
        sent = channel.signedCumulative
        again = () => pay(url, init, next!, payload)
      }
      let response = await again()
      let waits = 0
      let idleRounds = 0
      let toppedUp = false
      for (;;) {
        if (response.status === 429 || response.status === 503) {
          const problem = await problemOf(response)
          const retryAfter = parseRetryAfter(response.headers.get('Retry-After'))
          if (problem.retryable === false) throw gaveUp('retry_exhausted', response, problem, 'not retryable')
          if (retryAfter === undefined) throw gaveUp('retry_exhausted', response, problem, 'no Retry-After')
          if (waits >= maxRetries) throw gaveUp('retry_exhausted', response, problem, `still refused after ${waits} retries`)
          if (retryAfter * 1000 > maxWaitMs) {
            throw gaveUp('retry_exhausted', response, problem, `Retry-After ${retryAfter} s is longer than ${maxWaitMs} ms`)
          }
          waits++
          await pause(retryAfter * 1000, init.signal)
          response = await again()
          continue
        }
        const challenge = response.status === 402 ? sessionChallenge(response) : undefined
        if (challenge === undefined) return response
        const problem = await problemOf(response)
        const t = terms(challenge)
        const channel = channels.get(t.key)
        const topUp = channel !== undefined && problem.code === 'mpp_session_deposit_below_request_cost'
        // Reuse the latest voucher until the server names a higher cumulative amount.
        const asked =
          problem.code === 'mpp_voucher_bucket_refresh_required' ||
          problem.code === 'mpp_request_exceeds_voucher_bucket' ||
          problem.code === 'mpp_voucher_exceeds_exposure_limit'
        const target = asked ? BigInt(String(problem.requiredCumulative)) : 0n
        const amount = channel === undefined ? undefined : target > channel.signedCumulative ? target : channel.signedCumulative
        const progress = channel === undefined || (topUp ? !toppedUp : sent === undefined || amount! > sent)
        if (!progress) {
          if (problem.retryable === false) throw gaveUp('payment_refused', response, problem, 'not retryable, and nothing new to send')
          if (++idleRounds > maxIdleRounds) throw gaveUp('payment_refused', response, problem, `${maxIdleRounds} rounds without progress`)
        }
        if (channel === undefined) {
          const payload = await openPayload(challenge)
          sent = BigInt(String(payload.cumulativeAmount))
          again = () => pay(url, init, challenge, payload)
        } else if (topUp) {
          // The deposit must reach the cumulative amount the request needs.
          await topUpChannel(url, init, challenge, channel, BigInt(String(problem.requiredCumulative)) - channel.deposit)
          toppedUp = true
          again = () => send(url, init)
        } else {
          const payload = await voucherPayload(channel, target)
          sent = BigInt(String(payload.cumulativeAmount))
          again = () => pay(url, init, challenge, payload)
        }
        response = await again()
      }
    },

    /**
     * A metered stream (README: Streaming): `fetch` with `MPP-Stream: metered`,
     * so the server reserves one window at a time and asks for more with
     * `payment-need-voucher` events, each answered here on a parallel `HEAD`
     * (a top-up first when the deposit is short). `events` yields the
     * stream's other events (the completion's chunks, `[DONE]`, an `error`);
     * `receipt()` is the final `payment-receipt` once the stream ended.
     */
    async stream(url: string, init: RequestInit = {}): Promise<MeteredStream> {
      const response = await client.fetch(url, { ...init, headers: { ...init.headers, 'MPP-Stream': 'metered' } })
      let receipt: Receipt | undefined
      const answerNeed = async (need: VoucherNeed) => {
        const challenge = await challengeFor(url, { method: 'HEAD' })
        const channel = [...channels.values()].find((known) => known.channelId === need.channelId)
        if (channel === undefined)
          throw new SessionClientError('channel_missing', 'the stream asks for a voucher on a channel this client did not open')
        const required = BigInt(need.requiredCumulative)
        // One management challenge pays both: each action carries its own single-use proof.
        if (required > channel.deposit) await topUpChannel(url, { method: 'HEAD' }, challenge, channel, required - channel.deposit)
        const answered = await pay(url, { method: 'HEAD' }, challenge, await voucherPayload(channel, required))
        if (answered.status !== 200) throw await refused('voucher', answered)
      }
      async function* events(): AsyncGenerator<ServerSentEvent> {
        if (response.body === null || !response.ok) return
        for await (const event of readEvents(response.body)) {
          if (event.event === 'payment-need-voucher') await answerNeed(JSON.parse(event.data) as VoucherNeed)
          else if (event.event === 'payment-receipt') {
            receipt = JSON.parse(event.data) as Receipt
            const channel = [...channels.values()].find((known) => known.channelId === receipt?.channelId)
            if (channel !== undefined && typeof receipt.spent === 'string') channel.spent = BigInt(receipt.spent)
          } else yield event
        }
      }
      return { response, events: events(), receipt: () => receipt }
    },

    /** Adds `amount` to the channel used for `url`'s payee; returns the receipt. */
    async topUp(url: string, amount: bigint, init: RequestInit = {}) {
      const challenge = await challengeFor(url, init)
      const channel = channels.get(terms(challenge).key)
      if (channel === undefined) throw new SessionClientError('channel_missing', 'no open channel for this payee')
      return topUpChannel(url, init, challenge, channel, amount)
    },

    /**
     * Closes the channel used for `url`'s payee: v1 with a final voucher for exactly what was spent (the v1 escrow
     * pays a voucher's whole amount); v2 with the highest voucher signed, which covers it (the precompile captures
     * exactly what was spent from any covering voucher), or one for exactly `spent` when none was signed above it.
     */
    async close(url: string, init: RequestInit = {}) {
      const challenge = await challengeFor(url, init)
      const t = terms(challenge)
      const channel = channels.get(t.key)
      if (channel === undefined) throw new SessionClientError('channel_missing', 'no open channel for this payee')
      if (channel.spent > channel.signedCumulative) {
        throw new SessionClientError('server_overreport', 'the server reports more spent than this client authorized')
      }
      const reuse = channel.descriptor !== undefined && channel.signedCumulative >= channel.spent && channel.signature !== '0x'
      const cumulativeAmount = reuse ? channel.signedCumulative : channel.spent
      const signature = reuse ? channel.signature : await sign(channel, channel.spent)
      const response = await pay(url, init, challenge, {
        action: 'close',
        channelId: channel.channelId,
        ...described(channel),
        cumulativeAmount: cumulativeAmount.toString(),
        signature,
      })
      if (response.status !== 200) throw await refused('close', response)
      channels.delete(t.key)
      return Receipt.parse(response.headers.get('Payment-Receipt')!)
    },
  }
  return client
}
