// Rows 1–5: one process, warm, `app.request` in process (no sockets).
import { type Hex, hashTypedData, keccak256, recoverTypedDataAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { Secp256k1 } from 'viem/tempo'
import { type BackendName, backendNames, type RecoveryBackend } from '../../src/secp256k1/backend.js'
import { BackendUnavailableError } from '../../src/secp256k1/errors.js'
import { selectRecoveryBackend } from '../../src/secp256k1/select.js'
import { recoverVoucherSigner, signVoucher, voucherDomain, voucherTypes } from '../../src/session/v1/voucher.js'
import {
  benchBody,
  benchBodyPath,
  benchPath,
  paidApp,
  price,
  privateKeyOf,
  signBenchVoucher,
  unpaidApp,
  voucherContext,
} from './fixture.js'
import { type Batch, type MeasureOptions, measureTogether, type Rate } from './harness.js'

// biome-ignore lint/suspicious/noExplicitAny: each operation prepares a value of its own type
type Operation = Batch<any> & { maxBatch?: number }

export type MiddlewareResults = {
  recover: Rate
  /** viem's recoverTypedDataAddress: row 1 plus a dynamic import per call. */
  recoverViaLoader: Rate
  /** The gateway's voucher recovery (`recoverVoucherSigner`: digest, byte checks, recovery, keccak) on each backend that loads. */
  recoverOn: Partial<Record<BackendName, Rate>>
  unpaid: Rate
  /** The floor under the middleware: the route reading the body, no middleware. */
  unpaidBody: Rate
  /** On the runtime's fastest backend (native on Node). */
  paidNewVoucher: Rate
  /** The same, recovering on each backend. */
  paidNewVoucherOn: Partial<Record<BackendName, Rate>>
  /** The same on session protocol v2 (descriptor in the payload, checked), on the runtime's fastest backend. */
  paidNewVoucherV2: Rate
  paidInBucket: Rate
  challenge: Rate
  /** The backend `paidNewVoucher` ran on. */
  backend: BackendName
  /** Cost of one operation over the cost of one recover, median of round-by-round ratios. */
  costToRecover: {
    recoverViaLoader: number
    recoverOn: Partial<Record<BackendName, number>>
    paidNewVoucherOn: Partial<Record<BackendName, number>>
    unpaid: number
    unpaidBody: number
    paidNewVoucher: number
    paidNewVoucherV2: number
    paidInBucket: number
    challenge: number
  }
  /** paid_new_voucher on each backend over one recovery on that backend (median of round-by-round ratios). */
  paidNewVoucherToOwnRecover: Partial<Record<BackendName, number>>
  /** paid_new_voucher on v2 over one recovery on the same backend. */
  paidNewVoucherV2ToOwnRecover: number
  /** What a new voucher adds to a paid request in the bucket, over one recovery on that backend. */
  newVoucherShareToOwnRecover: Partial<Record<BackendName, number>>
  /** Cost of a challenge over the cost of the body-reading route (median of round-by-round ratios). */
  challengeToUnpaidBody: number
  /** What issuing the challenge adds to the body-reading route, µs (median of round-by-round differences). */
  challengeShareMicroseconds: number
}

const hex = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString('hex')}` as Hex

/**
 * 1. One EIP-712 voucher signature recovery with viem: what
 * `recoverTypedDataAddress` computes (typed-data digest, @noble/curves
 * compact-signature recovery, keccak of the public key), with the curve
 * reached through a static import (`Secp256k1.noble` of `viem/tempo`). With
 * `viaLoader`, viem's one-call `recoverTypedDataAddress` itself (row 1b): the
 * same work plus an `await import()` of the curve on every call, which under
 * tsx's off-thread loader hooks (Node 20) is a round trip to the loader thread.
 */
export async function recoverOperation(viaLoader = false): Promise<Operation> {
  const account = privateKeyToAccount(privateKeyOf(0))
  const domain = voucherDomain(voucherContext.chainId, voucherContext.escrow)
  // A pool of distinct vouchers, so nothing can be served from a cache.
  const vouchers = await Promise.all(
    Array.from({ length: 64 }, async (_, i) => {
      const channelId = hex(crypto.getRandomValues(new Uint8Array(32)))
      const cumulativeAmount = BigInt(1_000 + i)
      return {
        message: { channelId, cumulativeAmount },
        signature: await signVoucher(account, voucherContext, { channelId, cumulativeAmount }),
      }
    }),
  )
  const recover = async (i: number): Promise<string> => {
    const { message, signature } = vouchers[i % vouchers.length]!
    if (viaLoader) return recoverTypedDataAddress({ domain, types: voucherTypes, primaryType: 'Voucher', message, signature })
    const digest = hashTypedData({ domain, types: voucherTypes, primaryType: 'Voucher', message })
    const recoveryBit = Number.parseInt(signature.slice(130), 16) - 27
    const publicKey = Secp256k1.noble.Signature.fromCompact(signature.slice(2, 130))
      .addRecoveryBit(recoveryBit)
      .recoverPublicKey(digest.slice(2))
      .toHex(false)
    return `0x${keccak256(`0x${publicKey.slice(2)}`).slice(26)}`
  }
  if ((await recover(0)).toLowerCase() !== account.address.toLowerCase()) throw new Error('recover: wrong signer')
  return { run: (_, i) => recover(i) }
}

/** 1c–1e. The gateway's voucher recovery on one backend: `recoverVoucherSigner` (cached domain separator, byte checks, backend, keccak). */
export async function backendRecoverOperation(backend: RecoveryBackend): Promise<Operation> {
  const account = privateKeyToAccount(privateKeyOf(0))
  const vouchers = await Promise.all(
    Array.from({ length: 64 }, async (_, i) => {
      const channelId = hex(crypto.getRandomValues(new Uint8Array(32)))
      const cumulativeAmount = BigInt(1_000 + i)
      return { channelId, cumulativeAmount, signature: await signVoucher(account, voucherContext, { channelId, cumulativeAmount }) }
    }),
  )
  const recover = (i: number) => recoverVoucherSigner(voucherContext, vouchers[i % vouchers.length]!, backend)
  if (recover(0) !== account.address.toLowerCase()) throw new Error(`recover on ${backend.name}: wrong signer`)
  return { run: (_, i) => recover(i) }
}

/** 2. The same route with no payment middleware (`path`: benchBodyPath for the variant that reads the body). */
export async function unpaidOperation(path = benchPath): Promise<Operation> {
  const app = unpaidApp()
  const request = async () => {
    const response = await app.request(path, { method: 'POST', body: benchBody, headers: { 'Content-Type': 'application/json' } })
    if (response.status !== 200) throw new Error(`unpaid: ${response.status}`)
    await response.arrayBuffer()
  }
  return { run: request }
}

/**
 * 3. A paid request carrying a new voucher. Timed: the paid request alone. Not
 * timed (prepared per batch): its challenge (row 5) and the payer's signature.
 */
export async function paidNewVoucherOperation(recovery?: RecoveryBackend, sessionProtocol: 'v1' | 'v2' = 'v1'): Promise<Operation> {
  const fixture = await paidApp({ channelCount: 16, initialAccepted: price, sessionProtocol, ...(recovery ? { recovery } : {}) })
  let turn = 0
  return {
    maxBatch: 2_000,
    async prepare(size: number) {
      const credentials: string[] = []
      for (let i = 0; i < size; i++) {
        const channel = fixture.channels[turn++ % fixture.channels.length]!
        const amount = channel.accepted + price
        channel.signature = await signBenchVoucher(channel, amount)
        channel.accepted = amount
        credentials.push(
          await fixture.authorization({
            channelId: channel.channelId,
            amount,
            signature: channel.signature,
            ...(channel.descriptor ? { descriptor: channel.descriptor } : {}),
          }),
        )
      }
      return credentials
    },
    run: (credentials: string[], i: number) => fixture.pay(credentials[i]!),
    // Every voucher of the batch was accepted: each channel's latest is its accepted amount.
    after: () => assertAccepted(fixture),
  }
}

async function assertAccepted(fixture: Awaited<ReturnType<typeof paidApp>>) {
  for (const channel of fixture.channels) {
    const state = await fixture.store.getChannel(channel.channelId)
    if (state?.acceptedCumulative !== channel.accepted || state.vouchers.at(-1)?.signature !== channel.signature) {
      throw new Error(`channel ${channel.channelId}: accepted ${state?.acceptedCumulative}, expected ${channel.accepted}`)
    }
  }
}

/**
 * 4. A paid request covered by the accepted bucket: the credential repeats the
 * accepted voucher, so no signature is recovered. Timed: the paid request alone.
 */
export async function paidInBucketOperation(): Promise<Operation> {
  const fixture = await paidApp({ channelCount: 16, initialAccepted: 10n ** 27n })
  let turn = 0
  return {
    async prepare(size: number) {
      const credentials: string[] = []
      for (let i = 0; i < size; i++) {
        const channel = fixture.channels[turn++ % fixture.channels.length]!
        credentials.push(
          await fixture.authorization({ channelId: channel.channelId, amount: channel.accepted, signature: channel.signature }),
        )
      }
      return credentials
    },
    run: (credentials: string[], i: number) => fixture.pay(credentials[i]!),
    // No voucher advanced: the bucket accepted at setup paid for everything.
    after: () => assertAccepted(fixture),
  }
}

/** 5. Issuing a 402 challenge: an unpaid request to the paid route. */
export async function challengeOperation(): Promise<Operation> {
  const fixture = await paidApp({ channelCount: 1, initialAccepted: price })
  const request = async () => {
    const response = await fixture.request()
    if (response.status !== 402 || !response.headers.has('WWW-Authenticate')) throw new Error(`challenge: ${response.status}`)
    await response.arrayBuffer()
  }
  return { run: request }
}

/**
 * Rows 1–5 measured together: each round times a batch of every row back to
 * back, so the ratios to `recover` hold even when the machine's load changes.
 */
export async function benchMiddleware(options?: MeasureOptions): Promise<MiddlewareResults> {
  // paid_new_voucher (row 3) is the row of the backend the runtime selects: native on Node.
  const selected = selectRecoveryBackend().backend.name
  // Every backend this runtime loads (all three on Node, linux-x64): rows 1c–1e and 3 per backend.
  const loaded = backendNames.flatMap((name) => {
    try {
      return [selectRecoveryBackend(name).backend]
    } catch (error) {
      if (error instanceof BackendUnavailableError) return []
      throw error
    }
  })
  const perBackendOperations: Record<string, Operation> = {}
  for (const backend of loaded) {
    perBackendOperations[`recover_${backend.name}`] = await backendRecoverOperation(backend)
    perBackendOperations[`paidNewVoucher_${backend.name}`] = await paidNewVoucherOperation(backend)
  }
  const { rates, costRatio, costDifference } = await measureTogether<string>(
    {
      recover: await recoverOperation(),
      recoverViaLoader: await recoverOperation(true),
      unpaid: await unpaidOperation(),
      unpaidBody: await unpaidOperation(benchBodyPath),
      paidInBucket: await paidInBucketOperation(),
      challenge: await challengeOperation(),
      paidNewVoucherV2: await paidNewVoucherOperation(selectRecoveryBackend(selected).backend, 'v2'),
      ...perBackendOperations,
    },
    options,
  )
  const perBackend = <T>(value: (name: BackendName) => T) =>
    Object.fromEntries(loaded.map(({ name }) => [name, value(name)])) as Partial<Record<BackendName, T>>
  return {
    recover: rates.recover!,
    recoverViaLoader: rates.recoverViaLoader!,
    recoverOn: perBackend((name) => rates[`recover_${name}`]!),
    unpaid: rates.unpaid!,
    unpaidBody: rates.unpaidBody!,
    paidNewVoucher: rates[`paidNewVoucher_${selected}`]!,
    paidNewVoucherOn: perBackend((name) => rates[`paidNewVoucher_${name}`]!),
    paidNewVoucherV2: rates.paidNewVoucherV2!,
    paidNewVoucherV2ToOwnRecover: costRatio('paidNewVoucherV2', `recover_${selected}`),
    paidInBucket: rates.paidInBucket!,
    challenge: rates.challenge!,
    backend: selected,
    paidNewVoucherToOwnRecover: perBackend((name) => costRatio(`paidNewVoucher_${name}`, `recover_${name}`)),
    newVoucherShareToOwnRecover: perBackend(
      (name) => costDifference(`paidNewVoucher_${name}`, 'paidInBucket') / rates[`recover_${name}`]!.microseconds,
    ),
    costToRecover: {
      recoverViaLoader: costRatio('recoverViaLoader', 'recover'),
      recoverOn: perBackend((name) => costRatio(`recover_${name}`, 'recover')),
      paidNewVoucherOn: perBackend((name) => costRatio(`paidNewVoucher_${name}`, 'recover')),
      unpaid: costRatio('unpaid', 'recover'),
      unpaidBody: costRatio('unpaidBody', 'recover'),
      paidNewVoucher: costRatio(`paidNewVoucher_${selected}`, 'recover'),
      paidNewVoucherV2: costRatio('paidNewVoucherV2', 'recover'),
      paidInBucket: costRatio('paidInBucket', 'recover'),
      challenge: costRatio('challenge', 'recover'),
    },
    challengeToUnpaidBody: costRatio('challenge', 'unpaidBody'),
    challengeShareMicroseconds: costDifference('challenge', 'unpaidBody'),
  }
}
