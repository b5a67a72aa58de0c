// What both escrow adapters (viem-escrow.ts, v1; precompile-escrow.ts, v2)
// share over viem: the RPC client under one deadline, the broadcast of a
// client's transaction (preflight, send, confirm), the payee's settle/close
// (simulate, fee check, sign, send one at a time, confirm), the payee's fees,
// and what became of a payee transaction. The adapters add what their escrow's
// ABI says: reading a channel, decoding a client's transaction, the calls.
//
// Error policy, so the session engine never sees a half-applied state:
// - the RPC cannot be reached, fails or times out → `mpp_chain_unavailable`
//   (nothing is known to have happened; the same call can be retried);
// - the node answers and refuses the transaction, or it reverts →
//   `mpp_payment_verification_failed` for the client's transactions,
//   `mpp_session_close_failed` for the payee's settle/close;
// - the payee cannot pay a settle/close's fee → `mpp_session_close_unavailable`
//   caused by a `FeeShortfallError`, checked before sending (and when the
//   node refuses it anyway): no retry succeeds until the payee is funded;
// - a client's transaction that would fail on chain is refused before it is
//   sent (preflight.ts), a settle/close whose eth_call reverts likewise.
// Transactions are identified by their hash, computed before sending, so a
// retry after a timeout finds the first attempt's receipt instead of failing.

import { TokenId } from 'ox/tempo'
import {
  type Abi,
  type Address,
  BaseError,
  type Chain,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  type EncodeFunctionDataParameters,
  encodeFunctionData,
  type Hex,
  HttpRequestError,
  http,
  InternalRpcError,
  keccak256,
  LimitExceededRpcError,
  type LocalAccount,
  MethodNotFoundRpcError,
  MethodNotSupportedRpcError,
  type PublicClient,
  ResourceUnavailableRpcError,
  SocketClosedError,
  TimeoutError,
  TransactionNotFoundError,
  type TransactionReceipt,
  TransactionReceiptNotFoundError,
  type Transport,
  WebSocketRequestError,
} from 'viem'
import { z } from 'zod'
import { tip20Abi } from '../../contracts-abi/tip20.js'
import type { ErrorCode } from '../errors/codes.js'
import { PaymentError } from '../errors/payment-error.js'
import type { RecoveryBackend } from '../secp256k1/backend.js'
import { selectRecoveryBackend } from '../secp256k1/select.js'
import { FeeCapError, FeeShortfallError, type PayeeFees } from '../session/escrow.js'
import { address as addressRule, amount, callable, httpUrl, implementing, integer } from '../util/config.js'
import { sleep } from '../util/sleep.js'
import { isTempoChain } from './chain.js'
import { chosenFeeToken, feeAmount, type PayeeFeeCaps, payeeFeesPerGas, tempoFeeToken } from './fees.js'
import { preflight } from './preflight.js'
import { revertReason } from './revert-reason.js'

/** The options both adapters take besides the escrow's address. */
export type EscrowRpcOptions = {
  /** The chain the escrow lives on (see chain.ts); its id binds decoded transactions and channel ids. */
  chain: Chain
  /** The payee key that sends settle/close (and pays their fees). Absent: `canSubmit` is false. */
  payee?: LocalAccount
  /** Gas limits for settle/close, set explicitly (Tempo nodes mis-estimate `0x76` gas). Default 500k each. */
  gas?: { settle?: bigint; close?: bigint }
  /**
   * What settle/close may pay per gas: the latest base fee plus a fifth, plus
   * the tip (default 0), never above `maxFeePerGas` (default: no cap). While
   * the base fee plus the tip is above the cap, settle/close are not sent.
   */
  fees?: PayeeFeeCaps
  /** Limit for each RPC call and for each receipt wait. Default 30 s. */
  timeoutMs?: number
  /** Interval between receipt polls. Default 200 ms. */
  pollingIntervalMs?: number
  /** The secp256k1 backend client transactions' senders are recovered with. Default: the fastest this runtime loads. */
  recovery?: RecoveryBackend
} & ({ rpcUrl: string; transport?: undefined } | { transport: Transport; rpcUrl?: undefined })

const defaultGas = 500_000n

/** The fields of `EscrowRpcOptions`, for the adapters' option schemas (each adds its address and the rpcUrl/transport rule). */
export const escrowRpcOptionFields = {
  chain: z.object({ id: integer(1) }, { error: 'must be a viem chain object' }),
  payee: z
    .object({ address: addressRule, signTransaction: callable() }, { error: 'must be a local account that can sign transactions' })
    .optional(),
  gas: z.object({ settle: amount(21_000n).optional(), close: amount(21_000n).optional() }).optional(),
  fees: z
    .object({ maxFeePerGas: amount(0n).optional(), maxPriorityFeePerGas: amount(0n).optional() })
    .refine((caps) => caps.maxFeePerGas === undefined || (caps.maxPriorityFeePerGas ?? 0n) <= caps.maxFeePerGas, {
      message: 'maxPriorityFeePerGas must not exceed maxFeePerGas',
    })
    .optional(),
  timeoutMs: integer(1).optional(),
  pollingIntervalMs: integer(1).optional(),
  recovery: implementing<RecoveryBackend>(['recover']).optional(),
  rpcUrl: httpUrl.optional(),
  transport: callable().optional(),
}

/** The rule every adapter's schema refines with. */
export const oneTransport = [
  (options: { rpcUrl?: unknown; transport?: unknown }) => (options.rpcUrl === undefined) !== (options.transport === undefined),
  { message: 'needs exactly one of rpcUrl and transport' },
] as const

/** A payee transaction on the escrow: `settle` or `close` with its arguments, encoded by the adapter's ABI. */
export type PayeeCall = {
  functionName: 'settle' | 'close'
  address: Address
  abi: Abi
  args: readonly unknown[]
  /** Whether the adapter found the arguments well formed; a malformed call is refused before anything is read. */
  wellFormed: boolean
}

/** Raised by `within` when the RPC does not answer in time. */
class DeadlineError extends Error {
  override name = 'DeadlineError'
}

export type EscrowRpc = ReturnType<typeof escrowRpc>

/** The shared machinery over viem; `options` must have passed the adapter's schema. */
export function escrowRpc(options: EscrowRpcOptions) {
  const { chain, payee } = options
  const feeCaps = options.fees ?? {}
  const tempo = isTempoChain(chain)
  const timeoutMs = options.timeoutMs ?? 30_000
  const pollingIntervalMs = options.pollingIntervalMs ?? 200
  const recovery = options.recovery ?? selectRecoveryBackend().backend
  const gas = { settle: options.gas?.settle ?? defaultGas, close: options.gas?.close ?? defaultGas }
  // The fee token the chain object names: viem then sends the payee's transactions as 0x76 paying in it.
  const chainFeeToken = (chain as { feeToken?: TokenId.TokenIdOrAddress }).feeToken
  const namedFeeToken = tempo && chainFeeToken != null ? (TokenId.toAddress(chainFeeToken).toLowerCase() as Address) : undefined
  // No transport-level retries: a failure surfaces as mpp_chain_unavailable at
  // once and the caller (or its client) decides to retry; cacheTime 0 so reads
  // never answer from a stale cache.
  const transport = options.transport ?? http(options.rpcUrl, { timeout: timeoutMs, retryCount: 0 })
  const client: PublicClient = createPublicClient({ chain, transport, cacheTime: 0, pollingInterval: pollingIntervalMs })
  const wallet = payee ? createWalletClient({ account: payee, chain, transport, cacheTime: 0 }) : undefined

  /** Bounds any RPC work by `ms` (default `timeoutMs`), whatever the transport does. */
  function within<T>(work: Promise<T>, ms = timeoutMs): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineError(`no answer within ${ms} ms`)), ms)
    })
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer))
  }

  async function getReceipt(hash: Hex, ms = timeoutMs): Promise<TransactionReceipt | undefined> {
    try {
      return await within(client.getTransactionReceipt({ hash }), ms)
    } catch (err) {
      if (err instanceof TransactionReceiptNotFoundError) return undefined
      throw err
    }
  }

  /**
   * Polls for the receipt until `timeoutMs`. A plain loop rather than viem's
   * `waitForTransactionReceipt`: that one resolves with a *replacement's*
   * receipt when the sender reuses the nonce (a client could make a different
   * transaction stand in for its open), and only re-checks on new blocks.
   */
  async function waitForReceipt(hash: Hex): Promise<TransactionReceipt> {
    const deadline = Date.now() + timeoutMs
    let lastError: unknown
    for (;;) {
      try {
        const receipt = await getReceipt(hash, Math.max(1, deadline - Date.now()))
        if (receipt) return receipt
      } catch (err) {
        lastError = err // a transient RPC failure while the transaction is in flight: keep polling
      }
      if (Date.now() + pollingIntervalMs >= deadline) {
        throw new PaymentError(
          'mpp_chain_unavailable',
          `The transaction was sent but not confirmed within ${Math.round(timeoutMs / 1000)} s; retry the same request to pick up its outcome.`,
          { cause: lastError, extensions: { txHash: hash } },
        )
      }
      await sleep(pollingIntervalMs)
    }
  }

  /**
   * Sends a signed transaction; returns its hash once the node holds it.
   * `failCode` is what a refusal by the node becomes, unless `explainRefusal`
   * finds a more precise error for the refusal.
   */
  async function send(
    serialized: Hex,
    failCode: ErrorCode,
    what: string,
    explainRefusal?: () => Promise<PaymentError | undefined>,
  ): Promise<Hex> {
    const txHash = keccak256(serialized)
    try {
      await within(client.sendRawTransaction({ serializedTransaction: serialized }))
    } catch (err) {
      if (isUnavailable(err)) throw unavailable(`Could not send the ${what} transaction to the chain.`, err, txHash)
      // The node refused it. If that is because the same transaction is
      // already mined (a retry), its receipt decides; otherwise it is refused.
      let mined: TransactionReceipt | undefined
      try {
        mined = await getReceipt(txHash)
      } catch (lookupErr) {
        throw unavailable(`Could not check the ${what} transaction on the chain.`, lookupErr, txHash)
      }
      if (!mined) {
        throw (
          (await explainRefusal?.()) ??
          new PaymentError(failCode, `The chain refused the ${what} transaction: ${nodeReason(err)}.`, { cause: err })
        )
      }
    }
    return txHash
  }

  /** Waits for a sent transaction's receipt; a revert becomes `failCode`. */
  async function confirm(txHash: Hex, failCode: ErrorCode, what: string): Promise<{ txHash: Hex }> {
    const receipt = await waitForReceipt(txHash)
    if (receipt.status !== 'success') {
      throw new PaymentError(failCode, `The ${what} transaction reverted on chain (block ${receipt.blockNumber}).`, {
        extensions: { txHash },
      })
    }
    return { txHash }
  }

  // Payee transactions are signed and sent one at a time so two of them never take the same nonce; each waits
  // for its receipt outside the queue, so one slow to be mined does not hold back the next.
  let queue: Promise<unknown> = Promise.resolve()
  function serially<T>(work: () => Promise<T>): Promise<T> {
    const run = queue.then(work, work)
    queue = run.catch(() => undefined)
    return run
  }

  /** The token the payee's fees are paid in: `native` off Tempo; on Tempo the chain's, else the payee's choice, else pathUSD. */
  async function payeeFeeToken(account: LocalAccount): Promise<Address | 'native'> {
    if (!tempo) return 'native'
    return tempoFeeToken(namedFeeToken, namedFeeToken === undefined ? await chosenFeeToken(client, account.address, 'pending') : undefined)
  }

  /** The payee's fee balance, and what a transaction with `gasLimit` at `maxFeePerGas` needs of it: what the node checks before accepting it. */
  async function readPayeeFees(account: LocalAccount, gasLimit: bigint, maxFeePerGas: bigint): Promise<PayeeFees> {
    const token = await payeeFeeToken(account)
    const balance =
      token === 'native'
        ? await client.getBalance({ address: account.address, blockTag: 'pending' })
        : await client.readContract({
            address: token,
            abi: tip20Abi,
            functionName: 'balanceOf',
            args: [account.address],
            blockTag: 'pending',
          })
    return { address: account.address.toLowerCase() as Address, token, balance, needed: feeAmount(gasLimit, maxFeePerGas, tempo) }
  }

  /**
   * The fees per gas of the payee's transactions now, from the latest base
   * fee and the caps (readiness and sending use the same); `price` is absent
   * while the base fee plus the tip is above the cap.
   */
  async function feesPerGas(): Promise<{ baseFeePerGas: bigint; price?: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } }> {
    const { baseFeePerGas } = await client.getBlock({ blockTag: 'latest' })
    const base = baseFeePerGas ?? 0n
    const price = payeeFeesPerGas(base, feeCaps)
    return price === undefined ? { baseFeePerGas: base } : { baseFeePerGas: base, price }
  }

  function shortfall(payeeFees: PayeeFees, what: string): PaymentError {
    const cause = new FeeShortfallError(payeeFees, what)
    return new PaymentError('mpp_session_close_unavailable', `The ${what} cannot be sent: ${cause.message}.`, { cause })
  }

  async function submit(call: PayeeCall): Promise<{ txHash: Hex }> {
    const { functionName } = call
    if (!payee || !wallet) {
      throw new PaymentError(
        'mpp_session_close_unavailable',
        `This server has no payee key configured to ${functionName} channels on chain.`,
      )
    }
    if (!call.wellFormed) {
      throw new PaymentError('mpp_session_close_failed', `The ${functionName} voucher is malformed (channel id, amount or signature).`)
    }
    // One shape for both escrows' ABIs: viem's types cannot follow a function name chosen at run time.
    const contractCall = { address: call.address, abi: call.abi, functionName, args: call.args } as EncodeFunctionDataParameters & {
      address: Address
    }
    const txHash = await serially(async () => {
      // eth_call first: a voucher the contract would reject never costs a fee
      // (Tempo nodes accept reverting transactions and charge for them).
      try {
        await within(client.simulateContract({ ...contractCall, account: payee } as Parameters<PublicClient['simulateContract']>[0]))
      } catch (err) {
        const revert = findRevert(err)
        if (revert) throw new PaymentError('mpp_session_close_failed', revertDetail(functionName, revert), { cause: err })
        throw unavailable(`Could not simulate ${functionName} on the chain.`, err)
      }
      // The fee, before anything is sent: a payee that cannot pay it is told why, never retried in vain.
      const limit = gas[functionName]
      let fees: Awaited<ReturnType<typeof feesPerGas>>
      try {
        fees = await within(feesPerGas())
      } catch (err) {
        throw unavailable(`Could not read the chain's fees for ${functionName}.`, err)
      }
      const { price } = fees
      if (price === undefined) {
        const cause = new FeeCapError(fees.baseFeePerGas, feeCaps.maxPriorityFeePerGas ?? 0n, feeCaps.maxFeePerGas ?? 0n)
        throw new PaymentError('mpp_session_close_failed', `The ${functionName} is not sent: ${cause.message}.`, { cause })
      }
      let payeeFees: PayeeFees
      try {
        payeeFees = await within(readPayeeFees(payee, limit, price.maxFeePerGas))
      } catch (err) {
        throw unavailable(`Could not read the payee's fee balance for ${functionName}.`, err)
      }
      if (payeeFees.balance < payeeFees.needed) throw shortfall(payeeFees, functionName)
      let serialized: Hex
      try {
        const request = await within(
          wallet.prepareTransactionRequest({
            account: payee,
            chain,
            to: call.address,
            data: encodeFunctionData(contractCall),
            gas: limit,
            ...price,
          }),
        )
        serialized = await wallet.signTransaction(request as Parameters<typeof wallet.signTransaction>[0])
      } catch (err) {
        throw unavailable(`Could not prepare the ${functionName} transaction.`, err)
      }
      // Refused although the balance covered it a moment ago (spent meanwhile): a fresh read says whether for the fee.
      const explainRefusal = async () => {
        const fresh = await within(readPayeeFees(payee, limit, price.maxFeePerGas)).catch(() => undefined)
        return fresh !== undefined && fresh.balance < fresh.needed ? shortfall(fresh, functionName) : undefined
      }
      return send(serialized, 'mpp_session_close_failed', functionName, explainRefusal)
    })
    return confirm(txHash, 'mpp_session_close_failed', functionName)
  }

  return {
    client,
    chainId: chain.id,
    tempo,
    recovery,
    canSubmit: payee !== undefined,
    within,
    /** Sends `settle` or `close` with the payee key and waits for success (see the error policy above). */
    submit,

    async payeeFees(): Promise<PayeeFees | undefined> {
      if (!payee) return undefined
      try {
        const { price } = await within(feesPerGas())
        // Above the cap now, what it needs once the base fee falls under it is at most the cap's worth.
        const maxFeePerGas = price?.maxFeePerGas ?? feeCaps.maxFeePerGas ?? 0n
        // Enough for whichever of settle and close has the larger limit.
        return await within(readPayeeFees(payee, gas.settle > gas.close ? gas.settle : gas.close, maxFeePerGas))
      } catch (err) {
        throw unavailable("Could not read the payee's fee balance.", err)
      }
    },

    /** Broadcasts a client's open/topUp after the preflight, and waits for its receipt. */
    async broadcast(serialized: Hex): Promise<{ txHash: Hex }> {
      // A client's transaction that would fail on chain is refused before it is sent (preflight.ts).
      await preflight(serialized, { client, chainId: chain.id, tempo, recovery, within: (work) => within(work) })
      return confirm(
        await send(serialized, 'mpp_payment_verification_failed', 'open/topUp'),
        'mpp_payment_verification_failed',
        'open/topUp',
      )
    },

    async transactionStatus(txHash: Hex): Promise<'success' | 'reverted' | 'pending' | 'unknown'> {
      try {
        const receipt = await getReceipt(txHash)
        if (receipt !== undefined) return receipt.status === 'success' ? 'success' : 'reverted'
        const pending = await within(client.getTransaction({ hash: txHash })).catch((err: unknown) => {
          if (err instanceof TransactionNotFoundError) return undefined
          throw err
        })
        return pending === undefined ? 'unknown' : 'pending'
      } catch (err) {
        throw unavailable('Could not read a payee transaction from the chain.', err, txHash)
      }
    },

    async latestBlock(): Promise<bigint> {
      try {
        return await within(client.getBlockNumber({ cacheTime: 0 }))
      } catch (err) {
        throw unavailable('Could not read the latest block number.', err)
      }
    },
  }
}

// ------------------------------------------------------------------ helpers

export const isBytes32 = (value: unknown): value is Hex => typeof value === 'string' && /^0x[0-9a-fA-F]{64}$/.test(value)
export const isHexBytes = (value: unknown): value is Hex => typeof value === 'string' && /^0x(?:[0-9a-fA-F]{2})*$/.test(value)

export function unavailable(detail: string, cause: unknown, txHash?: Hex): PaymentError {
  return new PaymentError('mpp_chain_unavailable', `${detail} Retry shortly.`, {
    cause,
    ...(txHash === undefined ? {} : { extensions: { txHash } }),
  })
}

/**
 * Whether an error means the RPC could not answer (network, timeout, overload,
 * a node-side fault) rather than that the node judged the request.
 */
function isUnavailable(err: unknown): boolean {
  if (err instanceof DeadlineError) return true
  if (!(err instanceof BaseError)) return false
  const transportFailure = err.walk(
    (e) =>
      e instanceof HttpRequestError ||
      e instanceof TimeoutError ||
      e instanceof WebSocketRequestError ||
      e instanceof SocketClosedError ||
      e instanceof InternalRpcError ||
      e instanceof LimitExceededRpcError ||
      e instanceof ResourceUnavailableRpcError ||
      e instanceof MethodNotFoundRpcError ||
      e instanceof MethodNotSupportedRpcError,
  )
  return transportFailure !== null
}

function findRevert(err: unknown): ContractFunctionRevertedError | undefined {
  if (!(err instanceof BaseError)) return undefined
  const found = err.walk((e) => e instanceof ContractFunctionRevertedError)
  return found instanceof ContractFunctionRevertedError ? found : undefined
}

function revertDetail(functionName: string, revert: ContractFunctionRevertedError): string {
  return `The escrow rejected ${functionName}: ${revertReason(revert.raw)}.`
}

/** The node's reason for refusing a transaction, short and without long hex (never the transaction itself). */
function nodeReason(err: unknown): string {
  const text = err instanceof BaseError ? err.details || err.shortMessage : String(err)
  const cleaned = text
    .replace(/0x[0-9a-fA-F]{67,}/g, '0x…')
    .replace(/\s+/g, ' ')
    .trim()
  return (cleaned.length > 160 ? `${cleaned.slice(0, 157)}...` : cleaned) || 'no reason given'
}
