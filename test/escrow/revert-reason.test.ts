// Revert data of the escrow and of TIP-20 tokens, as the short reasons shown
// to clients (src/escrow/revert-reason.ts).
import { encodeErrorResult, parseAbi } from 'viem'
import { Abis } from 'viem/tempo'
import { describe, expect, it } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { revertReason } from '../../src/escrow/revert-reason.js'

const builtins = parseAbi(['error Error(string)', 'error Panic(uint256)', 'error ZeroDeposit()', 'error Elsewhere(uint256)'])

describe('revertReason', () => {
  it('names the escrow errors, declared and undeclared', () => {
    expect(revertReason(encodeErrorResult({ abi: escrowAbi, errorName: 'ChannelAlreadyExists' }))).toBe(
      'a channel with this id already exists (open with another salt)',
    )
    expect(revertReason(encodeErrorResult({ abi: escrowAbi, errorName: 'CloseNotReady' }))).toBe('the close grace period has not ended')
    expect(revertReason(encodeErrorResult({ abi: builtins, errorName: 'ZeroDeposit' }))).toBe('the amount is zero')
  })

  it('names the v2 channel reserve precompile errors', () => {
    const abi = Abis.tip20ChannelReserve
    expect(revertReason(encodeErrorResult({ abi, errorName: 'CaptureAmountInvalid' }))).toBe(
      'the capture amount is below the settled amount or above the voucher',
    )
    expect(revertReason(encodeErrorResult({ abi, errorName: 'NotPayeeOrOperator' }))).toMatch(
      /neither this channel's payee nor its operator/,
    )
    expect(revertReason(encodeErrorResult({ abi, errorName: 'ExpiringNonceHashNotSet' }))).toMatch(/derive the channel id/)
  })

  it('names TIP-20 errors, with the amounts of InsufficientBalance', () => {
    expect(revertReason(encodeErrorResult({ abi: Abis.tip20, errorName: 'InsufficientAllowance' }))).toMatch(/allowance/)
    const data = encodeErrorResult({
      abi: Abis.tip20,
      errorName: 'InsufficientBalance',
      args: [5n, 7n, '0x20C0000000000000000000000000000000000001'],
    })
    expect(revertReason(data)).toBe('the balance of token 0x20c0000000000000000000000000000000000001 is 5, below the 7 needed')
  })

  it('quotes a revert string on one line, without long hex, at most 120 characters', () => {
    const message = `bad\nthing 0x${'ab'.repeat(40)} ${'x'.repeat(200)}`
    const reason = revertReason(encodeErrorResult({ abi: builtins, errorName: 'Error', args: [message] }))
    expect(reason).toMatch(/^it reverts with "bad thing 0x… x+\.\.\."$/)
    expect(reason.length).toBeLessThan(140)
  })

  it('says what it cannot decode without quoting it', () => {
    expect(revertReason('0x')).toBe('it reverts without a reason')
    expect(revertReason(undefined)).toBe('it reverts without a reason')
    expect(revertReason(encodeErrorResult({ abi: builtins, errorName: 'Panic', args: [0x11n] }))).toBe('it panics (code 17)')
    expect(revertReason(encodeErrorResult({ abi: builtins, errorName: 'Elsewhere', args: [1n] }))).toMatch(
      /^it reverts with an unknown error 0x[0-9a-f]{8}$/,
    )
    const balanceSelector = encodeErrorResult({
      abi: Abis.tip20,
      errorName: 'InsufficientBalance',
      args: [1n, 2n, '0x20C0000000000000000000000000000000000001'],
    }).slice(0, 10)
    expect(revertReason(`${balanceSelector}0102` as `0x${string}`)).toBe('it reverts with undecodable data')
  })
})
