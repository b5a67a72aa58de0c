// What a revert of the escrow or of a TIP-20 token means, in words a client or
// operator can act on: the preflight's simulation of a client's open/topUp and
// the eth_call before the payee's settle/close both come back with revert data.
import { AbiErrorSignatureNotFoundError, decodeErrorResult, type Hex, parseAbi } from 'viem'
import { Abis } from 'viem/tempo'
import { escrowAbi } from '../../contracts-abi/escrow.js'

/** Errors the deployed escrow reverts with but its published ABI omits (contracts-abi/escrow/StreamChannelEscrow.sol). */
const undeclaredEscrowErrors = parseAbi(['error ZeroDeposit()', 'error InvalidToken()'])

/**
 * The escrows' errors first: where a TIP-20 error has the same signature (InvalidSignature), the escrow's meaning
 * wins. The v2 precompile's errors share the v1 escrow's names where they mean the same thing.
 */
const errorsAbi = [...escrowAbi, ...undeclaredEscrowErrors, ...Abis.tip20ChannelReserve, ...Abis.tip20]

const reasons: Record<string, string> = {
  // The escrow (StreamChannelEscrow.sol, the deployed TempoStreamChannel's).
  ChannelAlreadyExists: 'a channel with this id already exists (open with another salt)',
  ChannelNotFound: 'the channel does not exist on chain',
  ChannelFinalized: 'the channel is already closed on chain',
  NotPayer: "only the channel's payer can top it up",
  NotPayee: "the server's payee key is not this channel's payee",
  InvalidSignature: "the voucher signature is not valid for this channel's signer",
  AmountExceedsDeposit: 'the voucher amount exceeds the channel deposit',
  AmountNotIncreasing: 'the voucher amount is not above the amount already settled',
  TransferFailed: 'the token transfer failed',
  InvalidPayee: 'the payee is the zero address',
  DepositOverflow: 'the deposit would exceed the escrow maximum (v1 2^128-1, v2 2^96-1 base units)',
  ZeroDeposit: 'the amount is zero',
  InvalidToken: 'the token is not a TIP-20 token the escrow accepts',
  // The v2 channel reserve precompile (TIP-1034), besides the names above.
  NotPayeeOrOperator: "the server's payee key is neither this channel's payee nor its operator",
  CaptureAmountInvalid: 'the capture amount is below the settled amount or above the voucher',
  CloseNotReady: 'the close grace period has not ended',
  ExpiringNonceHashNotSet: 'the open is not in a transaction the channel reserve can derive the channel id from',
  // TIP-20.
  InsufficientAllowance: "the escrow's allowance on the token is below the amount (approve it first)",
  PolicyForbids: "the token's transfer policy forbids the transfer",
  ContractPaused: 'the token is paused',
}

/** The reason `data` (revert data) gives, as a short clause without hex beyond an unknown selector. */
export function revertReason(data: Hex | undefined): string {
  if (data === undefined || data === '0x') return 'it reverts without a reason'
  // viem decodes the built-in Error(string) and Panic(uint256) too; its types list only the ABI's errors.
  let decoded: { errorName: string; args: readonly unknown[] | undefined }
  try {
    decoded = decodeErrorResult({ abi: errorsAbi, data })
  } catch (err) {
    if (err instanceof AbiErrorSignatureNotFoundError) return `it reverts with an unknown error ${data.slice(0, 10)}`
    return 'it reverts with undecodable data'
  }
  const { errorName, args = [] } = decoded
  if (errorName === 'InsufficientBalance') {
    const [available, required, token] = args as readonly [bigint, bigint, Hex]
    return `the balance of token ${token.toLowerCase()} is ${available}, below the ${required} needed`
  }
  if (errorName === 'Error') return `it reverts with "${printable(String(args[0]))}"`
  if (errorName === 'Panic') return `it panics (code ${args[0]})`
  return reasons[errorName] ?? `it reverts with ${errorName}`
}

/** A revert message as a client may see it: one line, no long hex, at most 120 characters. */
function printable(message: string): string {
  const cleaned = message
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/0x[0-9a-fA-F]{67,}/g, '0x…')
    .trim()
  return cleaned.length > 120 ? `${cleaned.slice(0, 117)}...` : cleaned
}
