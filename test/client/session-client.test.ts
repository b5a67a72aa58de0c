// The session client's own bookkeeping under concurrency, against a scripted
// server (no chain: the channel is already known to the client).
import type { Hex, LocalAccount } from 'viem'
import { http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { foundry } from 'viem/chains'
import { describe, expect, it } from 'vitest'
import { sessionClient } from '../../src/client/session-client.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { signVoucher } from '../../src/session/v1/voucher.js'

const escrow = '0x3333333333333333333333333333333333333333'
const payee = '0x2222222222222222222222222222222222222222'
const token = '0x20c0000000000000000000000000000000000000'
const channelId = `0x${'ab'.repeat(32)}` as Hex
const context = { chainId: foundry.id, escrow } as const
const payer = privateKeyToAccount(`0x${'01'.padStart(64, '0')}`)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('the session client under concurrency', () => {
  it('keeps the highest voucher it signed when a lower one finishes signing last', async () => {
    // Signing 200 is slow; 300, asked by a request that started later, is signed first.
    const account = {
      ...payer,
      async signTypedData(parameters: Parameters<typeof payer.signTypedData>[0]) {
        if ((parameters.message as { cumulativeAmount: bigint }).cumulativeAmount === 200n) await sleep(50)
        return payer.signTypedData(parameters)
      },
    } as LocalAccount
    const challenge = Challenge.format(
      Challenge.create({
        secretKey: 'client-test-secret-key-of-32-bytes+',
        realm: 'client.test',
        method: 'tempo',
        intent: 'session',
        request: { amount: '1', currency: token, recipient: payee, methodDetails: { escrowContract: escrow, chainId: foundry.id } },
      }),
    )
    // Each body is asked for its own cumulative amount; a paid request is served.
    const asked: Record<string, string> = { a: '200', b: '300' }
    const paid: { body: string; amount: bigint }[] = []
    const server = (async (_url: string, init: RequestInit) => {
      const credential = new Headers(init.headers).get('Authorization')
      const body = String(init.body)
      if (credential === null) {
        const problem = { code: 'mpp_voucher_bucket_refresh_required', retryable: true, requiredCumulative: asked[body] }
        return Response.json(problem, { status: 402, headers: { 'WWW-Authenticate': challenge } })
      }
      paid.push({ body, amount: BigInt((Credential.parse(credential).payload as { cumulativeAmount: string }).cumulativeAmount) })
      return Response.json({ ok: true })
    }) as typeof fetch
    const client = sessionClient({ account, chain: foundry, transport: http('http://127.0.0.1:1'), fetch: server })
    client.channels.set(`${escrow}|${payee}|${token}`, {
      channelId,
      escrow,
      chainId: foundry.id,
      payee,
      token,
      deposit: 1_000n,
      signedCumulative: 100n,
      signature: await signVoucher(payer, context, { channelId, cumulativeAmount: 100n }),
      spent: 0n,
      openTxHash: `0x${'cd'.repeat(32)}`,
    })
    const responses = await Promise.all(['a', 'b'].map((body) => client.fetch('http://server.test/paid', { method: 'POST', body })))
    expect(responses.map((response) => response.status)).toEqual([200, 200])
    const channel = [...client.channels.values()][0]!
    expect(channel.signedCumulative).toBe(300n)
    expect(channel.signature).toBe(await signVoucher(payer, context, { channelId, cumulativeAmount: 300n }))
    // The slower request, asked for 200, sent the 300 already signed.
    expect(paid).toEqual([
      { body: 'b', amount: 300n },
      { body: 'a', amount: 300n },
    ])
  })
})
