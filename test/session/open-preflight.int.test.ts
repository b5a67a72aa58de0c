// An open whose transaction would fail on chain, through the whole gateway
// (middleware, session engine, viem escrow on anvil): answered at once with
// 402 mpp_payment_verification_failed naming the cause and a fresh challenge,
// nothing sent; the payer corrects its transaction and opens on that challenge.
import { type Address, encodeFunctionData, type Hex, keccak256, toHex, zeroAddress } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { pathUsdAddress, tip20Abi } from '../../contracts-abi/tip20.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { computeChannelId } from '../../src/session/v1/channel-id.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { testAccounts, testClient, zeroFees } from '../harness/local-chain.js'
import { price, type SessionFixture, startSession } from '../support/session.js'

let session: SessionFixture
beforeAll(async () => {
  session = await startSession()
})
afterAll(async () => {
  await session?.stop()
})

describe('an open the chain would not execute', () => {
  it('is answered 402 with its cause before anything is sent, and the payer opens with a corrected transaction', async () => {
    const account = testAccounts[6]!
    const payer = account.address.toLowerCase() as Address
    const wallet = testClient(session.anvil, account)
    const deposit = 1_000_000n
    const salt = keccak256(toHex('open-preflight'))
    const context = { chainId: session.anvil.chain.id, escrow: session.escrowAddress }
    const channelId = computeChannelId({
      payer,
      payee: session.payeeAddress,
      token: pathUsdAddress,
      salt,
      authorizedSigner: zeroAddress,
      ...context,
    })
    const calls = [
      { to: pathUsdAddress, data: encodeFunctionData({ abi: tip20Abi, functionName: 'approve', args: [session.escrowAddress, deposit] }) },
      {
        to: session.escrowAddress,
        data: encodeFunctionData({
          abi: escrowAbi,
          functionName: 'open',
          args: [session.payeeAddress, pathUsdAddress, deposit, salt, zeroAddress],
        }),
      },
    ]
    const nonce = await wallet.getTransactionCount({ address: payer, blockTag: 'pending' })
    const sign = async (gas: bigint): Promise<Hex> =>
      wallet.signTransaction((await wallet.prepareTransactionRequest({ calls, gas, nonce, ...zeroFees } as never)) as never)
    const signature = await signVoucher(account, context, { channelId, cumulativeAmount: price })
    const pay = async (challenge: Challenge, transaction: Hex) =>
      session.app.request('/v1/paid', {
        method: 'POST',
        body: '{}',
        headers: {
          Authorization: Credential.format({
            challenge,
            payload: { action: 'open', type: 'transaction', channelId, transaction, cumulativeAmount: price.toString(), signature },
          }),
        },
      })

    // The gas mppx 0.11 took from anvil's eth_fillTransaction in the run that prompted the preflight.
    const first = await session.challenge()
    const started = performance.now()
    const refused = await pay(first, await sign(100_100n))
    expect(performance.now() - started).toBeLessThan(1_000)
    expect(refused.status).toBe(402)
    const problem = (await refused.json()) as Record<string, unknown>
    expect(problem).toMatchObject({ code: 'mpp_payment_verification_failed', retryable: false })
    expect(problem.detail).toMatch(/^The transaction would run out of gas: limit 100100, needs about \d+\.$/)
    expect(await wallet.getTransactionCount({ address: payer, blockTag: 'pending' })).toBe(nonce)
    expect(await session.escrow.getChannel(channelId)).toBeUndefined()

    // The same nonce and channel, enough gas, on the fresh challenge the refusal carries.
    const fresh = Challenge.parse(refused.headers.get('WWW-Authenticate')!) as Challenge
    expect(fresh.id).not.toBe(first.id)
    const opened = await pay(fresh, await sign(500_000n))
    expect(opened.status).toBe(200)
    expect(await opened.json()).toMatchObject({ channelId })
    expect(await session.escrow.getChannel(channelId)).toMatchObject({ payer, deposit })
  })
})
