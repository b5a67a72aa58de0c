// A gateway whose payee cannot pay a close's fee: `src/node.ts` started here
// on the suite's chain, upstream and database with a fresh payee key holding no
// pathUSD. It says so when it starts and on GET /health (200, degraded, the
// cause), and a close is answered 503 mpp_session_close_unavailable naming the
// cause before anything is sent: no transaction from the payee, no balance
// moved, the channel open on chain and in the gateway's accounts, still
// serving paid requests. Its clients connect from 127.0.0.4, so their opens
// count against no other file's address. The suite's anvil has a zero base
// fee, so the payee is given a tip (PAYEE_PRIORITY_FEE_PER_GAS) to owe a fee
// at all: by default it would pay none and close unfunded.
import { readFileSync } from 'node:fs'
import type { Address } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pathUsdAddress } from '../../contracts-abi/tip20.js'
import type { HealthBody } from '../../src/health.js'
import {
  balanceOf,
  type Channel,
  type Client,
  chain,
  chargeOf,
  chatBody,
  clientOf,
  credential,
  expectProblem,
  gatewayProcess,
  logFileFor,
  newPayer,
  onChain,
  processBase,
  sign,
} from './support.js'
import { type GatewayProcess, models, startGatewayProcess } from './target.js'

const payeeKey = generatePrivateKey()
const payee = privateKeyToAccount(payeeKey).address.toLowerCase() as Address
const get = { method: 'GET' }

let started: GatewayProcess
let unfunded: ReturnType<typeof gatewayProcess>
let client: Client
beforeAll(async () => {
  const logFile = logFileFor('unfunded')
  started = await startGatewayProcess({
    ...processBase,
    logFile,
    env: { PAYEE_PRIVATE_KEY: payeeKey, PAYEE_PRIORITY_FEE_PER_GAS: '1000000000' },
    warmUp: false,
  })
  unfunded = gatewayProcess({ url: started.url, pid: started.pid, logFile })
  client = clientOf({ url: started.url, payee, from: '127.0.0.4' })
})
afterAll(async () => {
  await started?.stop()
})

/** What the payee's readiness reads: it can sign, holds none of the fee token, needs some. */
const degraded = {
  ok: true,
  status: 'degraded',
  reason: 'payee_cannot_pay_fees',
  payee: {
    address: payee,
    canSign: true,
    canPayFees: false,
    feeToken: pathUsdAddress,
    feeBalance: '0',
    feeNeeded: expect.stringMatching(/^[1-9]\d*$/),
    checkedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
  },
}

describe('a payee with no pathUSD to pay fees with', () => {
  it('the start line and GET /health say degraded, naming the cause; the key is in neither', async () => {
    await expect.poll(() => unfunded.logs().find((line) => 'event' in line), { timeout: 10_000 }).toBeDefined()
    const start = unfunded.logs().find((line) => 'event' in line) as unknown as HealthBody & { event: string }
    expect(start).toEqual({ event: 'payee_readiness', ...degraded })

    const response = await unfunded.fetch('/health')
    expect(response.status).toBe(200)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    expect(response.headers.get('X-Request-Id')).toMatch(/^req_[A-Za-z0-9_-]{22}$/)
    const body = (await response.json()) as HealthBody
    expect(body).toEqual(degraded)
    expect(readFileSync(unfunded.logFile, 'utf8')).not.toContain(payeeKey.slice(2))
  })

  it('a close answers 503 mpp_session_close_unavailable with the cause; nothing is sent and the channel keeps serving', async () => {
    const payer = await newPayer()
    const channel: Channel = await client.openChannel(payer, 1_000_000n, 100_000n)
    const first = await client.paidChat(channel, chatBody(models.fixed, 'Before the close.'))
    expect(first.response.status).toBe(200)
    const before = await client.snapshot(channel)
    expect(before.state.spent).toBe(1_600n)
    expect(before.money.payee).toBe(0n)
    const sent = await chain.getTransactionCount({ address: payee })

    const { spent } = before.state
    const payload = {
      action: 'close',
      channelId: channel.channelId,
      cumulativeAmount: spent.toString(),
      signature: await sign(channel, spent),
    }
    const refused = await client.send(get, credential(await client.challengeFor(get), payload))
    const problem = await expectProblem(refused, 'mpp_session_close_unavailable')
    expect(problem.channelId).toBe(channel.channelId)
    expect(problem.detail).toMatch(
      new RegExp(
        `^The close cannot be sent: the payee ${payee} cannot pay the close's fee: it holds 0 of token ${pathUsdAddress} ` +
          'and needs about [1-9]\\d*\\. The channel stays open and usable; close it again once the payee is funded\\.$',
      ),
    )
    expect(await unfunded.logOf(refused)).toMatchObject({ status: 503, events: ['payee_cannot_pay_fees'] })

    // Nothing was sent: the payee sent no transaction, no balance moved, the channel is open on chain and in the accounts.
    expect(await chain.getTransactionCount({ address: payee })).toBe(sent)
    expect(await client.snapshot(channel)).toEqual(before)
    expect(await onChain(channel.channelId)).toEqual({ deposit: 1_000_000n, settled: 0n, finalized: false, closeRequestedAt: 0n })

    // And it keeps serving: the next paid request is charged on top.
    const second = await client.paidChat(channel, chatBody(models.fixed, 'After the close.'))
    expect(second.response.status).toBe(200)
    const charge = chargeOf(((await second.response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage)
    expect(second.receipt).toMatchObject({ spent: (spent + charge).toString() })
    expect(await balanceOf(payee)).toBe(0n)
    // The refusal is the freshest reading: /health still says why.
    expect(await (await unfunded.fetch('/health')).json()).toEqual(degraded)
  })
})
