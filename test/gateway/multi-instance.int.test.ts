// Four gateway processes share one PostgreSQL database and one MPP secret;
// payers' requests are spread over all of them, each HTTP call to the next
// instance (a challenge issued by one is paid at another). Afterwards the
// database must account for exactly what the receipts say.

import { http, type LocalAccount } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sessionClient } from '../../src/client/session-client.js'
import { Challenge } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { assertInvariant, reservedOf } from '../../src/session/channel.js'
import { testAccounts, zeroFees } from '../harness/local-chain.js'
import { type Cluster, startCluster } from '../support/cluster.js'
import { chatRequest } from '../support/gateway.js'
import type { ServerProcess } from '../support/processes.js'

const instances = 4
const deposit = 1_000_000n
const base = 'http://gateway.test'
const url = `${base}/v1/mpp/chat/completions`
// Catalogue prices (test/support/gateway.ts): 10 per prompt token, 20 per completion token.
const chargeOf = (usage: { prompt_tokens: number; completion_tokens: number }) =>
  BigInt(usage.prompt_tokens) * 10n + BigInt(usage.completion_tokens) * 20n

let cluster: Cluster
let gateways: ServerProcess[]
beforeAll(async () => {
  cluster = await startCluster()
  // One voucher for the whole deposit: requests then need no new signature, only the shared accounting.
  gateways = await Promise.all(Array.from({ length: instances }, () => cluster.startGateway({ BUCKET_SIZE: deposit.toString() })))
}, 90_000)
afterAll(async () => {
  await cluster?.stop()
})

/** `fetch` that sends each call to the next instance, and remembers which one answered. */
function roundRobin() {
  let next = 0
  const servedBy = new WeakMap<Response, number>()
  const fetcher = async (input: string | URL | Request, init?: RequestInit) => {
    const instance = next++ % instances
    const response = await fetch(String(input).replace(base, gateways[instance]!.url), init)
    servedBy.set(response, instance)
    return response
  }
  return { fetch: fetcher as typeof fetch, servedBy }
}

function payer(index: number, fetcher: typeof fetch) {
  const account = testAccounts[index]! as LocalAccount
  return sessionClient({
    account,
    chain: cluster.anvil.chain,
    transport: http(cluster.anvil.rpcUrl),
    deposit,
    fees: zeroFees,
    fetch: fetcher,
  })
}

type Paid = { status: number; channelId: string; challengeId: string; receiptSpent: bigint; charge: bigint; instance: number }

describe('several gateway instances on one PostgreSQL database', () => {
  it('serves hundreds of concurrent paid requests on shared channels: every receipt is in spent, spent is their sum, each challenge paid once', async () => {
    const { fetch: spread, servedBy } = roundRobin()
    const clients = [5, 6, 7, 8].map((index) => payer(index, spread))
    // Open the channels (one request each), then fire everything at once.
    const send = async (client: ReturnType<typeof payer>, i: number): Promise<Paid> => {
      const model = i % 3 === 0 ? 'usage:10,10' : 'usage:40,60'
      const response = await client.fetch(url, chatRequest(model, { content: `request ${i}` }))
      if (response.status !== 200) throw new Error(`request ${i}: ${response.status} ${await response.text()}`)
      const receipt = Receipt.parse(response.headers.get('Payment-Receipt')!)
      const completion = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }
      return {
        status: response.status,
        channelId: receipt.channelId!,
        challengeId: receipt.challengeId!,
        receiptSpent: BigInt(receipt.spent!),
        charge: chargeOf(completion.usage),
        instance: servedBy.get(response)!,
      }
    }
    const opened = await Promise.all(clients.map((client) => send(client, -1)))
    const perPayer = 80
    const started = performance.now()
    const paid = [
      ...opened,
      ...(await Promise.all(clients.flatMap((client) => Array.from({ length: perPayer }, (_, i) => send(client, i))))),
    ]
    const elapsed = performance.now() - started
    console.log(
      `multi-instance: ${clients.length * perPayer} concurrent paid requests over ${instances} instances in ${elapsed.toFixed(0)} ms`,
    )

    expect(paid).toHaveLength(clients.length * (perPayer + 1))
    // Spread: every instance answered paid requests.
    for (let instance = 0; instance < instances; instance++) expect(paid.filter((p) => p.instance === instance).length).toBeGreaterThan(0)

    // No challenge paid twice, and every paid one is recorded as consumed in the shared table.
    const perChallenge = new Map<string, number>()
    for (const p of paid) perChallenge.set(p.challengeId, (perChallenge.get(p.challengeId) ?? 0) + 1)
    expect([...perChallenge.values()].every((count) => count === 1)).toBe(true)
    const { rows } = await cluster.db.query<{ n: string }>('SELECT count(*) AS n FROM mpp_consumed_challenges WHERE id = ANY($1)', [
      [...perChallenge.keys()],
    ])
    expect(Number(rows[0]!.n)).toBe(perChallenge.size)

    for (const client of clients) {
      const { channelId } = [...client.channels.values()][0]!
      const state = await cluster.channel(channelId)
      const receipts = paid.filter((p) => p.channelId === channelId).sort((a, b) => (a.receiptSpent < b.receiptSpent ? -1 : 1))
      expect(() => assertInvariant(state)).not.toThrow()
      expect(reservedOf(state)).toBe(0n)
      expect(state.acceptedCumulative).toBe(deposit)
      // spent is exactly the sum of the charges the 200 responses were billed…
      expect(state.spent).toBe(receipts.reduce((sum, p) => sum + p.charge, 0n))
      // …and the commits were linear: each receipt's spent is the previous one plus its own charge, the last is the database's.
      let previous = 0n
      for (const p of receipts) {
        expect(p.receiptSpent).toBe(previous + p.charge)
        previous = p.receiptSpent
      }
      expect(previous).toBe(state.spent)
    }
  }, 120_000)

  it('accepts a credential once even when it reaches two instances at the same moment', async () => {
    const { fetch: spread } = roundRobin()
    const client = payer(9, spread)
    const first = await client.fetch(url, chatRequest('usage:40,60'))
    expect(first.status).toBe(200)
    const channel = [...client.channels.values()][0]!
    const before = (await cluster.channel(channel.channelId)).spent
    const request = chatRequest('usage:40,60', { content: 'sent twice' })
    const outcomes: number[][] = []
    for (let i = 0; i < 20; i++) {
      const challengeFrom = gateways[i % instances]!
      const unpaid = await fetch(url.replace(base, challengeFrom.url), request)
      const challenge = Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge
      const payload = {
        action: 'voucher',
        channelId: channel.channelId,
        cumulativeAmount: channel.signedCumulative.toString(),
        signature: channel.signature,
      }
      const authorization = Credential.format({ challenge, payload })
      const targets = [gateways[(i + 1) % instances]!, gateways[(i + 2) % instances]!]
      const responses = await Promise.all(
        targets.map((target) =>
          fetch(url.replace(base, target.url), { ...request, headers: { ...request.headers, Authorization: authorization } }),
        ),
      )
      outcomes.push(responses.map((response) => response.status).sort())
      await Promise.all(responses.map((response) => response.body?.cancel()))
    }
    expect(outcomes).toEqual(Array.from({ length: 20 }, () => [200, 402]))
    const state = await cluster.channel(channel.channelId)
    expect(state.spent - before).toBe(20n * 1_600n)
    expect(reservedOf(state)).toBe(0n)
  }, 60_000)
})
