// The rate limits hold across gateway instances: two gateway processes on one
// PostgreSQL, requests alternating between them. New vouchers on one channel
// are admitted at most VOUCHER_RATE_LIMIT per second in total (each process
// alone would admit that many), and opens from one client address at most
// OPEN_RATE_LIMIT per minute in total, while another address still opens.
// Clients are told apart by their socket's address (127.0.0.x).
import { http, type LocalAccount } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sessionClient } from '../../src/client/session-client.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { testAccounts, zeroFees } from '../harness/local-chain.js'
import { type Cluster, startCluster } from '../support/cluster.js'
import { fetchFrom } from '../support/fetch-from.js'
import { chatRequest } from '../support/gateway.js'
import type { ServerProcess } from '../support/processes.js'

const voucherLimit = 5
const openLimit = 3
const path = '/v1/mpp/chat/completions'

let cluster: Cluster
let gateways: ServerProcess[]
beforeAll(async () => {
  cluster = await startCluster()
  const env = { VOUCHER_RATE_LIMIT: String(voucherLimit), OPEN_RATE_LIMIT: String(openLimit) }
  gateways = await Promise.all([cluster.startGateway(env), cluster.startGateway(env)])
}, 90_000)
afterAll(async () => {
  await cluster?.stop()
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A challenge for management requests (a bodiless POST): reusable on this resource, for any number of vouchers. */
async function managementChallenge(send: typeof fetch = fetch) {
  const unpaid = await send(`${gateways[0]!.url}${path}`, { method: 'POST' })
  expect(unpaid.status).toBe(402)
  return Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge
}

describe('rate limits across two gateway instances on one PostgreSQL', () => {
  it('admits at most VOUCHER_RATE_LIMIT new vouchers per channel per second in total; the rest get 429 and a Retry-After after which the next passes', async () => {
    const account = testAccounts[5]! as LocalAccount
    const client = sessionClient({
      account,
      chain: cluster.anvil.chain,
      transport: http(cluster.anvil.rpcUrl),
      deposit: 1_000_000n,
      fees: zeroFees,
      fetch: ((input: string, init?: RequestInit) =>
        fetch(String(input).replace('http://gateway.test', gateways[0]!.url), init)) as typeof fetch,
    })
    expect((await client.fetch(`http://gateway.test${path}`, chatRequest('usage:10,10'))).status).toBe(200)
    const channel = [...client.channels.values()][0]!
    const voucher = async (amount: bigint) => ({
      action: 'voucher',
      channelId: channel.channelId,
      cumulativeAmount: amount.toString(),
      signature: await signVoucher(
        account,
        { chainId: channel.chainId, escrow: channel.escrow },
        { channelId: channel.channelId, cumulativeAmount: amount },
      ),
    })
    const challenge = await managementChallenge()
    const submit = (instance: number, payload: Record<string, string>) =>
      fetch(`${gateways[instance % 2]!.url}${path}`, {
        method: 'POST',
        headers: { Authorization: Credential.format({ challenge, payload }) },
      })
    const base = channel.signedCumulative
    const payloads = await Promise.all(Array.from({ length: 24 }, (_, i) => voucher(base + BigInt(i + 1) * 1_000n)))
    // The open's window (its initial voucher) has ended.
    await sleep(1_100)

    // Each voucher higher than the last, so none is stale and every one reaches the limit.
    const started = performance.now()
    const statuses: number[] = []
    let retryAfter: string | null = null
    for (const [i, payload] of payloads.entries()) {
      const response = await submit(i, payload)
      statuses.push(response.status)
      if (response.status === 429) {
        expect(await response.json()).toMatchObject({ code: 'mpp_rate_limited', channelId: channel.channelId })
        retryAfter ??= response.headers.get('Retry-After')
      } else await response.body?.cancel()
    }
    const elapsed = performance.now() - started
    console.log(`rate-limit: 24 new vouchers over 2 instances in ${elapsed.toFixed(0)} ms: ${statuses.join(' ')}`)
    expect(statuses.slice(0, voucherLimit + 1)).toEqual([...Array(voucherLimit).fill(200), 429])
    // Per instance it would be 2 × the limit; in one window it is the limit.
    const admitted = statuses.filter((status) => status === 200).length
    expect(admitted).toBeLessThanOrEqual(voucherLimit * (1 + Math.floor(elapsed / 1_000)))
    if (elapsed < 1_000) expect(admitted).toBe(voucherLimit)
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true)
    for (const instance of [0, 1]) expect(statuses.some((status, i) => i % 2 === instance && status === 429)).toBe(true)

    // Waiting Retry-After is enough, on either instance.
    expect(retryAfter).toBe('1')
    await sleep(Number(retryAfter) * 1_000)
    const next = await submit(1, await voucher(base + 25_000n))
    expect(next.status).toBe(200)
    expect(Receipt.parse(next.headers.get('Payment-Receipt')!).acceptedCumulative).toBe((base + 25_000n).toString())
  }, 60_000)

  it('admits at most OPEN_RATE_LIMIT opens per client address per minute in total, before any decoding; another address still opens', async () => {
    const attacker = fetchFrom('127.0.0.2')
    const challenge = await managementChallenge(attacker)
    // Opens whose transactions do not even decode: each one counts, and is refused when admitted.
    const bogus = {
      action: 'open',
      type: 'transaction',
      channelId: `0x${'ef'.repeat(32)}`,
      transaction: '0xdeadbeef',
      cumulativeAmount: '1',
      signature: `0x${'11'.repeat(64)}1b`,
    }
    const authorization = Credential.format({ challenge, payload: bogus })
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        attacker(`${gateways[i % 2]!.url}${path}`, { method: 'POST', headers: { Authorization: authorization } }),
      ),
    )
    const statuses = responses.map((response) => response.status)
    expect(statuses.filter((status) => status === 402)).toHaveLength(openLimit)
    expect(statuses.filter((status) => status === 429)).toHaveLength(10 - openLimit)
    const limited = responses.filter((response) => response.status === 429)
    for (const response of limited) expect(await response.json()).toMatchObject({ code: 'mpp_rate_limited', retryable: true })
    // Retry-After is the time left in the window, as the database's clock has it.
    const { rows } = await cluster.db.query<{ left: string }>(
      "SELECT window_end - (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS left FROM mpp_rate_limits WHERE key = 'open:127.0.0.2'",
    )
    const left = Number(rows[0]!.left)
    for (const response of limited) {
      const seconds = Number(response.headers.get('Retry-After'))
      expect(seconds).toBeGreaterThanOrEqual(Math.ceil(left / 1_000))
      expect(seconds).toBeLessThanOrEqual(Math.ceil(left / 1_000) + 2)
    }

    // Another address opens a real channel, through both instances.
    let turn = 0
    const other = fetchFrom('127.0.0.3')
    const client = sessionClient({
      account: testAccounts[6]! as LocalAccount,
      chain: cluster.anvil.chain,
      transport: http(cluster.anvil.rpcUrl),
      deposit: 1_000_000n,
      fees: zeroFees,
      fetch: ((input: string, init?: RequestInit) =>
        other(String(input).replace('http://gateway.test', gateways[turn++ % 2]!.url), init)) as typeof fetch,
    })
    expect((await client.fetch(`http://gateway.test${path}`, chatRequest('usage:10,10'))).status).toBe(200)
  }, 60_000)
})
