// Client-signed v2 transactions as a payer's client builds them: one Tempo
// 0x76 transaction with a single call on the channel reserve (no approve: the
// precompile pulls the deposit), an expiring nonce (nonceKey 'expiring',
// nonce 0, validBefore ≤ now + 25 s), zero fees. Signed, not sent.
import { type Address, encodeFunctionData, type Hex, keccak256 } from 'viem'
import { generatePrivateKey } from 'viem/accounts'
import { Abis } from 'viem/tempo'
import { pathUsdAddress } from '../../../contracts-abi/tip20.js'
import { computeChannelId } from '../../../src/session/v2/channel-id.js'
import { type ChannelDescriptor, zeroAddress } from '../../../src/session/v2/descriptor.js'
import { decodeSignedTransaction } from '../../../src/session/v2/open-transaction.js'
import { tip20ChannelReserveAddress as reserve } from '../../../src/session/v2/reserve.js'
import { type TestClient, zeroFees } from '../../harness/local-chain.js'

const abi = Abis.tip20ChannelReserve
/** Set on every transaction (anvil cannot estimate 0x76): opens use ~325k on t4, a call creating a balance slot ~570k. */
export const v2Gas = 3_000_000n

/** Signs one expiring-nonce 0x76 transaction from `from` carrying `calls`. */
export async function signExpiring(from: TestClient, calls: readonly { to: Address; data: Hex }[]): Promise<Hex> {
  const now = (await from.getBlock()).timestamp
  const request = await from.prepareTransactionRequest({
    calls,
    gas: v2Gas,
    ...zeroFees,
    nonceKey: 'expiring',
    nonce: 0,
    validBefore: Number(now) + 25,
    // The generic Chain type knows none of Tempo's fields (calls, nonceKey, validBefore); the chain object does.
  } as never)
  return from.signTransaction(request as never)
}

export type SignedOpen = { raw: Hex; descriptor: ChannelDescriptor; channelId: Hex }

/** A signed open of a channel from `from` to `payee` on pathUSD; its descriptor and id from the pure derivations. */
export async function signOpen(
  from: TestClient,
  options: { payee: Address; deposit: bigint; operator?: Address; authorizedSigner?: Address; token?: Address; chainId?: number },
): Promise<SignedOpen> {
  const salt = keccak256(generatePrivateKey())
  const operator = (options.operator ?? zeroAddress).toLowerCase() as Address
  const authorizedSigner = (options.authorizedSigner ?? zeroAddress).toLowerCase() as Address
  const token = (options.token ?? pathUsdAddress).toLowerCase() as Address
  const data = encodeFunctionData({
    abi,
    functionName: 'open',
    args: [options.payee, operator, token, options.deposit, salt, authorizedSigner],
  })
  const raw = await signExpiring(from, [{ to: reserve, data }])
  const { sender, expiringNonceHash } = decodeSignedTransaction(raw)
  const descriptor: ChannelDescriptor = {
    payer: sender,
    payee: options.payee.toLowerCase() as Address,
    operator,
    token,
    salt,
    authorizedSigner,
    expiringNonceHash,
  }
  return { raw, descriptor, channelId: computeChannelId(descriptor, reserve, options.chainId ?? 31337) }
}

/** A signed topUp of the channel `descriptor` names. */
export function signTopUp(from: TestClient, descriptor: ChannelDescriptor, additionalDeposit: bigint): Promise<Hex> {
  const data = encodeFunctionData({ abi, functionName: 'topUp', args: [descriptor, additionalDeposit] })
  return signExpiring(from, [{ to: reserve, data }])
}

/** Sends a payer's own call on the channel reserve (requestClose, withdraw) and waits for success. */
export async function sendPayerCall(from: TestClient, functionName: 'requestClose' | 'withdraw', descriptor: ChannelDescriptor) {
  const hash = await from.writeContract({ address: reserve, abi, functionName, args: [descriptor], gas: v2Gas, ...zeroFees } as never)
  const receipt = await from.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new Error(`${functionName} ${hash} reverted`)
  return receipt
}
