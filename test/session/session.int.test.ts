import { encodeFunctionData, type Hex, http, parseSignature, zeroAddress } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { escrowAbi } from '../../contracts-abi/escrow.js'
import { sessionClient } from '../../src/client/session-client.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { reservedOf } from '../../src/session/channel.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { gasLimits, pathUsdBalance, sendTempoCalls, testAccounts, testClient, zeroFees } from '../harness/local-chain.js'
import { price, type SessionFixture, startSession } from '../support/session.js'

let session: SessionFixture
beforeAll(async () => {
  session = await startSession()
})
afterAll(async () => {
  await session?.stop()
})

const problem = async (response: Response) => (await response.json()) as Record<string, string>
const receiptOf = (response: Response) => Receipt.parse(response.headers.get('Payment-Receipt')!)

/** A payer with an open channel whose voucher covers `cumulative` (opened through the real flow). */
async function openChannel(index: number, cumulative = price) {
  const payer = await session.payer(index)
  const response = await payer.client.fetch('http://gateway.test/v1/paid', { method: 'POST', body: '{}' })
  expect(response.status).toBe(200)
  const channel = [...payer.client.channels.values()][0]!
  const context = { chainId: session.anvil.chain.id, escrow: session.escrowAddress }
  const sign = (amount: bigint, account = payer.account, channelId = channel.channelId) =>
    signVoucher(account, context, { channelId, cumulativeAmount: amount })
  const voucher = async (amount: bigint) => ({
    action: 'voucher',
    channelId: channel.channelId,
    cumulativeAmount: amount.toString(),
    signature: await sign(amount),
  })
  if (cumulative > price) expect((await session.send(await voucher(cumulative))).status).toBe(200)
  return { ...payer, channel, sign, voucher, context }
}

describe('Tempo session against anvil: the paid flow', () => {
  it('opens with a 0x76 transaction, pays three requests, tops up, closes: the payee gains exactly what was captured', async () => {
    const payer = await session.payer(5)
    const payeeBefore = await pathUsdBalance(session.chain, session.payeeAddress)
    const payerBefore = await pathUsdBalance(session.chain, payer.address)

    const receipts = []
    for (let i = 0; i < 3; i++) {
      const response = await payer.client.fetch('http://gateway.test/v1/paid', { method: 'POST', body: JSON.stringify({ i }) })
      expect(response.status).toBe(200)
      expect(response.headers.get('Cache-Control')).toBe('private')
      receipts.push(receiptOf(response))
    }
    expect(receipts.map((r) => r.spent)).toEqual(['100000', '200000', '300000'])
    expect(receipts.map((r) => r.acceptedCumulative)).toEqual(['100000', '200000', '300000'])
    const channel = [...payer.client.channels.values()][0]!
    expect(receipts.every((r) => r.channelId === channel.channelId && r.reference === channel.channelId && r.intent === 'session')).toBe(
      true,
    )

    const topUp = await payer.client.topUp('http://gateway.test/v1/paid', 500_000n, { method: 'POST', body: '{}' })
    expect(topUp.txHash).toMatch(/^0x[0-9a-f]{64}$/)
    expect((await session.escrow.getChannel(channel.channelId))?.deposit).toBe(1_500_000n)

    const close = await payer.client.close('http://gateway.test/v1/paid', { method: 'POST', body: '{}' })
    expect(close).toMatchObject({
      status: 'success',
      channelId: channel.channelId,
      spent: '300000',
      txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
    })
    // The escrow deletes a closed channel and keeps only `finalized`; the balances below show what was captured.
    const onChain = await session.escrow.getChannel(channel.channelId)
    expect(onChain).toMatchObject({ finalized: true, payer: zeroAddress, deposit: 0n, settled: 0n })

    expect((await pathUsdBalance(session.chain, session.payeeAddress)) - payeeBefore).toBe(300_000n)
    expect(payerBefore - (await pathUsdBalance(session.chain, payer.address))).toBe(300_000n)
    expect((await session.store.getChannel(channel.channelId))?.finalized).toBe(true)
  })

  it('opens with an EIP-1559 transaction (approve sent first) and pays', async () => {
    const payer = await session.payer(6, { transactionType: 'eip1559' })
    const response = await payer.client.fetch('http://gateway.test/v1/paid', { method: 'POST', body: '{"x":1}' })
    expect(response.status).toBe(200)
    const channel = [...payer.client.channels.values()][0]!
    expect((await session.escrow.getChannel(channel.channelId))?.payer).toBe(payer.address)
    expect(receiptOf(response).spent).toBe('100000')
  })

  it('pays from an already-accepted voucher without a new signature, and treats a repeated voucher as idempotent', async () => {
    // The open paid one request and the voucher for 300000 a second one: 100000 is still authorized.
    const payer = await openChannel(7, 3n * price)
    const voucher = await payer.voucher(3n * price)
    const repeated = await session.send(voucher)
    expect(repeated.status).toBe(200)
    expect(receiptOf(repeated)).toMatchObject({ acceptedCumulative: '300000', spent: '300000' })
    const exhausted = await session.send(voucher)
    expect(exhausted.status).toBe(402)
    expect(await problem(exhausted)).toMatchObject({
      code: 'mpp_voucher_bucket_refresh_required',
      requiredCumulative: '400000',
      acceptedCumulative: '300000',
    })
  })

  it('accepts a voucher on HEAD without charging', async () => {
    const payer = await openChannel(8)
    const challenge = await session.challenge('', '/v1/paid', 'HEAD')
    const { Credential } = await import('../../src/protocol/credential.js')
    const response = await session.app.request('/v1/paid', {
      method: 'HEAD',
      headers: { Authorization: Credential.format({ challenge, payload: await payer.voucher(5n * price) }) },
    })
    expect(response.status).toBe(200)
    expect(receiptOf(response)).toMatchObject({ acceptedCumulative: '500000', spent: '100000' })
  })
})

describe('Tempo session against anvil: rejections', () => {
  it.each([
    [
      'a voucher signed by another key',
      async (p: Awaited<ReturnType<typeof openChannel>>) => ({
        ...(await p.voucher(2n * price)),
        signature: await p.sign(2n * price, testAccounts[1]!),
      }),
    ],
    [
      'the high-s twin of a valid signature',
      async (p: Awaited<ReturnType<typeof openChannel>>) => {
        const valid = await p.voucher(2n * price)
        const { r, s, v } = parseSignature(valid.signature as Hex)
        const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
        return { ...valid, signature: `${r}${(n - BigInt(s)).toString(16).padStart(64, '0')}${v === 27n ? '1c' : '1b'}` }
      },
    ],
    [
      'a voucher signed for another channel',
      async (p: Awaited<ReturnType<typeof openChannel>>) => ({
        ...(await p.voucher(2n * price)),
        signature: await p.sign(2n * price, p.account, `0x${'11'.repeat(32)}`),
      }),
    ],
    [
      'a voucher for another escrow (domain mismatch)',
      async (p: Awaited<ReturnType<typeof openChannel>>) => ({
        ...(await p.voucher(2n * price)),
        signature: await signVoucher(
          p.account,
          { ...p.context, escrow: '0x000000000000000000000000000000000000dead' },
          { channelId: p.channel.channelId, cumulativeAmount: 2n * price },
        ),
      }),
    ],
    [
      'a voucher for another chain id (domain mismatch)',
      async (p: Awaited<ReturnType<typeof openChannel>>) => ({
        ...(await p.voucher(2n * price)),
        signature: await signVoucher(
          p.account,
          { ...p.context, chainId: 4217 },
          { channelId: p.channel.channelId, cumulativeAmount: 2n * price },
        ),
      }),
    ],
    ['a decreasing amount', async (p: Awaited<ReturnType<typeof openChannel>>) => p.voucher(price - 1n)],
  ])('rejects %s with mpp_payment_verification_failed', async (_, build) => {
    const payer = await openChannel(9)
    const response = await session.send(await build(payer))
    expect(response.status).toBe(402)
    expect(response.headers.get('WWW-Authenticate')).not.toBeNull()
    expect(response.headers.get('Payment-Receipt')).toBeNull()
    expect(await problem(response)).toMatchObject({ code: 'mpp_payment_verification_failed' })
    expect((await session.store.getChannel(payer.channel.channelId))?.acceptedCumulative).toBe(price)
  })

  it('rejects a voucher above the deposit with mpp_session_deposit_below_request_cost, the numbers to recover and a suggested deposit', async () => {
    const payer = await openChannel(9)
    const response = await session.send(await payer.voucher(1_000_001n))
    expect(response.status).toBe(402)
    expect(await problem(response)).toMatchObject({
      code: 'mpp_session_deposit_below_request_cost',
      deposit: '1000000',
      requiredCumulative: '1000001',
      acceptedCumulative: price.toString(),
      requiredTopUp: (1_000_001n - price).toString(),
      suggestedDeposit: '10000000',
    })
    expect((await session.store.getChannel(payer.channel.channelId))?.acceptedCumulative).toBe(price)
  })

  it('rejects a source that is not the payer', async () => {
    const payer = await openChannel(9)
    const response = await session.send(await payer.voucher(2n * price), '{}', {
      source: `did:pkh:eip155:31337:${testAccounts[1]!.address}`,
    })
    expect(await problem(response)).toMatchObject({ code: 'mpp_payment_verification_failed' })
  })

  it.each([
    ['to another contract', { to: '0x000000000000000000000000000000000000beef' }],
    ['with another payee', { payee: testAccounts[1]!.address }],
  ])('rejects an open transaction %s', async (_, change) => {
    const account = testAccounts[8]!
    const wallet = testClient(session.anvil, account)
    const payee = (change as { payee?: `0x${string}` }).payee ?? session.payeeAddress
    const to = (change as { to?: `0x${string}` }).to ?? session.escrowAddress
    const salt = `0x${'77'.repeat(32)}` as Hex
    const data = encodeFunctionData({
      abi: escrowAbi,
      functionName: 'open',
      args: [payee, '0x20c0000000000000000000000000000000000000', 1_000_000n, salt, '0x0000000000000000000000000000000000000000'],
    })
    const nonce = await wallet.getTransactionCount({ address: account.address, blockTag: 'pending' })
    const transaction = await wallet.signTransaction({ calls: [{ to, data }], gas: gasLimits.call, nonce, ...zeroFees } as never)
    const response = await session.send({
      action: 'open',
      type: 'transaction',
      channelId: `0x${'22'.repeat(32)}`,
      transaction,
      cumulativeAmount: '0',
      signature: `0x${'11'.repeat(32)}${'22'.repeat(32)}1b`,
    })
    expect(response.status).toBe(402)
    expect(await problem(response)).toMatchObject({ code: 'mpp_payment_verification_failed' })
  })

  it('answers a voucher for an unknown channel with 410 mpp_channel_not_found', async () => {
    const payer = await openChannel(9)
    const channelId = `0x${'33'.repeat(32)}` as Hex
    const response = await session.send({
      action: 'voucher',
      channelId,
      cumulativeAmount: '100',
      signature: await payer.sign(100n, payer.account, channelId),
    })
    expect(response.status).toBe(410)
    expect(response.headers.get('WWW-Authenticate')).toBeNull()
    expect(await problem(response)).toMatchObject({ code: 'mpp_channel_not_found', channelId })
  })

  it('answers a voucher on a channel with a pending requestClose with 410 mpp_channel_finalized', async () => {
    const payer = await openChannel(9)
    const wallet = testClient(session.anvil, payer.account)
    await sendTempoCalls(wallet, [
      {
        to: session.escrowAddress,
        data: encodeFunctionData({ abi: escrowAbi, functionName: 'requestClose', args: [payer.channel.channelId] }),
      },
    ])
    // The cached chain read is at most chainCacheTtl old; let it lapse.
    const cached = (await session.store.getChannel(payer.channel.channelId))!
    await session.store.updateChannel(payer.channel.channelId, () => ({ state: { ...cached, chainReadAt: 0 }, result: undefined }))
    const response = await session.send(await payer.voucher(2n * price))
    expect(response.status).toBe(410)
    expect(await problem(response)).toMatchObject({ code: 'mpp_channel_finalized' })
  })

  it('answers a voucher on a channel closed on chain behind its back with 410 mpp_channel_finalized, and remembers it', async () => {
    const payer = await openChannel(8)
    // The payee closes outside the engine; on chain only the `finalized` flag remains.
    await session.escrow.close(payer.channel.channelId, 0n, '0x')
    expect(await session.escrow.getChannel(payer.channel.channelId)).toMatchObject({
      finalized: true,
      payer: zeroAddress,
      payee: zeroAddress,
    })
    const cached = (await session.store.getChannel(payer.channel.channelId))!
    await session.store.updateChannel(payer.channel.channelId, () => ({ state: { ...cached, chainReadAt: 0 }, result: undefined }))
    const response = await session.send(await payer.voucher(2n * price))
    expect(response.status).toBe(410)
    expect(await problem(response)).toMatchObject({ code: 'mpp_channel_finalized', channelId: payer.channel.channelId })
    expect(await session.store.getChannel(payer.channel.channelId)).toMatchObject({ finalized: true, deposit: cached.deposit })
  })

  it('answers a close with no close key configured with 503 mpp_session_close_unavailable, leaving the channel open', async () => {
    const noKey = await startSession({ withPayeeKey: false })
    try {
      const payer = await noKey.payer(5)
      expect((await payer.client.fetch('http://gateway.test/v1/paid', { method: 'POST', body: '{}' })).status).toBe(200)
      await expect(payer.client.close('http://gateway.test/v1/paid', { method: 'POST', body: '{}' })).rejects.toThrow(
        /503.*mpp_session_close_unavailable/,
      )
      const channel = [...payer.client.channels.values()][0]!
      expect((await noKey.escrow.getChannel(channel.channelId))?.finalized).toBe(false)
    } finally {
      await noKey.stop()
    }
  })
})

describe('Tempo session against anvil: concurrency', () => {
  it('never lets parallel requests push spent + reserved above the accepted amount', async () => {
    const payer = await openChannel(9, 8n * price)
    const voucher = await payer.voucher(8n * price)
    const before = (await session.store.getChannel(payer.channel.channelId))!.spent
    const responses = await Promise.all(Array.from({ length: 30 }, () => session.send(voucher)))
    const paid = responses.filter((r) => r.status === 200)
    const refused = responses.filter((r) => r.status === 402)
    expect(paid.length).toBe(Number((8n * price - before) / price))
    expect(paid.length + refused.length).toBe(30)
    for (const r of refused) expect((await problem(r)).code).toBe('mpp_voucher_bucket_refresh_required')
    const state = (await session.store.getChannel(payer.channel.channelId))!
    expect(reservedOf(state)).toBe(0n)
    expect(state.spent).toBe(before + BigInt(paid.length) * price)
    expect(state.spent + reservedOf(state) <= state.acceptedCumulative && state.acceptedCumulative <= state.deposit).toBe(true)
    const spentValues = paid.map((r) => BigInt(receiptOf(r).spent!)).sort((a, b) => (a < b ? -1 : 1))
    expect(spentValues.at(-1)).toBe(state.spent)
    expect(new Set(spentValues).size).toBe(paid.length)
  })
})

void sessionClient
void http
