// Row 8, the client process: opens one channel per worker with sessionClient
// (the real open: 402, a signed 0x76 open transaction the server broadcasts),
// then each worker pays completions on its channel with hand-made credentials
// (BENCH_PAY, below): unpaid POST → 402 + challenge → POST with a voucher
// credential → 200; or, with the challenge the previous 200 carried, the paid
// POST alone.
// The voucher is the channel's latest: inside the accepted bucket it is sent
// again as is (no signature work on either side); when the server asks for a
// further bucket (402 mpp_voucher_bucket_refresh_required, which carries a
// fresh challenge) the worker signs the amount asked and retries with it.
// Prints one JSON line of results. Then, for BENCH_CHALLENGE_MS, 16 loops send
// unpaid requests only (each answered 402 with a challenge) and print
// `challenges {…}`: the parent reads the server's CPU over that window.
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { type Address, type Hex, http, type LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { type ClientChannel, sessionClient } from '../../src/client/session-client.js'
import { tempoChain } from '../../src/escrow/chain.js'
import { Challenge, nextChallengeHeader } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { percentile } from './harness.js'

const env = (name: string) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is required`)
  return value
}

const url = `${env('BENCH_URL')}/v1/mpp/chat/completions`
const rpcUrl = env('BENCH_RPC_URL')
const payerKeys = env('BENCH_PAYER_KEYS').split(',') as Hex[]
const warmupMs = Number(env('BENCH_WARMUP_MS'))
const durationMs = Number(env('BENCH_DURATION_MS'))
const maxCompletions = Number(env('BENCH_MAX_COMPLETIONS'))
const challengeMs = Number(env('BENCH_CHALLENGE_MS'))
const deposit = BigInt(env('BENCH_DEPOSIT'))
const chain = tempoChain({ id: Number(env('BENCH_CHAIN_ID')), rpcUrl, feeToken: env('BENCH_CURRENCY') as Address })
const zeroFees = { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }
const refreshCodes = new Set(['mpp_voucher_bucket_refresh_required', 'mpp_request_exceeds_voucher_bucket'])
// How a completion is paid. `challenge`: the unpaid request's 402, then the paid retry with the bucket's voucher.
// `next`: the challenge the previous paid response carried, with the bucket's voucher: one round trip.
// `next-signed`: that challenge with a fresh voucher signed per request (mppx's model: the previous
// cumulative plus what the challenge quotes), one round trip and one signature recovery on the server each.
const pay = (process.env.BENCH_PAY ?? 'challenge') as 'challenge' | 'next' | 'next-signed'

const questions = ['What does a paid request cost?', 'How is the cost known?', 'Who holds the deposit?', 'When is a voucher needed?']
const bodyOf = (i: number) =>
  JSON.stringify({
    model: 'local-echo',
    max_tokens: 32,
    messages: [{ role: 'user', content: `${questions[i % questions.length]} (${i})` }],
  })
// Requests go over node:http with keep-alive, not fetch: fetch's own CPU cost
// made the client the bottleneck (the gateway idled between requests), so the
// figures described the client rather than the gateway.
const agent = new HttpAgent({ keepAlive: true })
type Reply = { status: number; header(name: string): string | undefined; text: string }
function post(body: string, authorization?: string): Promise<Reply> {
  const headers: Record<string, string | number> = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }
  if (authorization !== undefined) headers.Authorization = authorization
  if (pay !== 'challenge') headers[nextChallengeHeader] = '1'
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', agent, headers }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        const value = (name: string) => {
          const found = response.headers[name.toLowerCase()]
          return Array.isArray(found) ? found.join(', ') : found
        }
        resolve({ status: response.statusCode ?? 0, header: value, text: Buffer.concat(chunks).toString('utf8') })
      })
      response.on('error', reject)
    })
    request.on('error', reject)
    request.end(body)
  })
}

function sessionChallengeOf(reply: Reply): Challenge {
  const header = reply.header('WWW-Authenticate')
  const challenge =
    header === undefined ? undefined : Challenge.parseAll(header).find((c) => c.method === 'tempo' && c.intent === 'session')
  if (challenge === undefined) throw new Error(`no session challenge in a ${reply.status} response`)
  return challenge
}

// Open the channels (one per worker), in parallel: one payer key each.
const openStarted = performance.now()
const workers = await Promise.all(
  payerKeys.map(async (key, worker) => {
    const account = privateKeyToAccount(key) as LocalAccount
    const client = sessionClient({ account, chain, transport: http(rpcUrl), deposit, fees: zeroFees, nextChallenge: pay !== 'challenge' })
    const response = await client.fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: bodyOf(worker) })
    if (response.status !== 200) throw new Error(`open failed: ${response.status} ${await response.text()}`)
    await response.arrayBuffer()
    const next =
      pay === 'challenge'
        ? undefined
        : sessionChallengeOf({ status: 200, header: (name) => response.headers.get(name) ?? undefined, text: '' })
    return { account, channel: [...client.channels.values()][0]! as ClientChannel, next }
  }),
)
const openMs = performance.now() - openStarted

type Tally = { completions: number; requests: number; refreshes: number; failures: number; latencies: number[] }
const measured: Tally = { completions: 0, requests: 0, refreshes: 0, failures: 0, latencies: [] }
const warm: Tally = { completions: 0, requests: 0, refreshes: 0, failures: 0, latencies: [] }

const started = performance.now()
const measureFrom = started + warmupMs
const deadline = measureFrom + durationMs
let measuredStart = Number.NaN
let measuredEnd = Number.NaN
let sequence = 0

/** One paid completion: challenge, paid retry, and a bucket refresh when asked. */
async function completion(worker: (typeof workers)[number], tally: Tally) {
  const { account, channel } = worker
  const body = bodyOf(sequence++)
  const t0 = performance.now()
  let challenge: Challenge
  if (pay === 'challenge' || worker.next === undefined) {
    const unpaid = await post(body)
    tally.requests++
    if (unpaid.status !== 402) throw new Error(`expected 402, got ${unpaid.status}`)
    challenge = sessionChallengeOf(unpaid)
  } else challenge = worker.next
  if (pay === 'next-signed') {
    const cumulativeAmount = channel.signedCumulative + BigInt(String(Challenge.request(challenge).amount))
    channel.signature = await signVoucher(account, channel, { channelId: channel.channelId, cumulativeAmount })
    channel.signedCumulative = cumulativeAmount
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    const payload = {
      action: 'voucher',
      channelId: channel.channelId,
      cumulativeAmount: channel.signedCumulative.toString(),
      signature: channel.signature,
    }
    const response = await post(body, Credential.format({ challenge, payload }))
    tally.requests++
    if (response.status === 200) {
      const completion = JSON.parse(response.text) as { choices?: unknown[] }
      if (!Array.isArray(completion.choices) || response.header('Payment-Receipt') === undefined)
        throw new Error('a paid response without a completion or receipt')
      tally.completions++
      tally.latencies.push(performance.now() - t0)
      if (pay !== 'challenge') worker.next = sessionChallengeOf(response)
      return
    }
    const problem = JSON.parse(response.text) as { code?: string; requiredCumulative?: string }
    if (response.status !== 402 || !refreshCodes.has(problem.code ?? '')) {
      tally.failures++
      throw new Error(`paid request refused: ${response.status} ${problem.code}`)
    }
    // A new bucket: sign what the server asks and answer the challenge this 402 carries.
    const asked = BigInt(problem.requiredCumulative!)
    channel.signature = await signVoucher(account, channel, { channelId: channel.channelId, cumulativeAmount: asked })
    channel.signedCumulative = asked
    tally.refreshes++
    challenge = sessionChallengeOf(response)
  }
  throw new Error('no completion after three attempts')
}

await Promise.all(
  workers.map(async (worker) => {
    while (true) {
      const now = performance.now()
      if (now >= deadline || measured.completions >= maxCompletions) break
      const tally = now < measureFrom ? warm : measured
      if (tally === measured && Number.isNaN(measuredStart)) {
        measuredStart = now
        // The parent samples both processes' CPU time between this line and the result.
        process.stdout.write('window start\n')
      }
      await completion(worker, tally)
      if (tally === measured) measuredEnd = performance.now()
    }
  }),
)

const seconds = (measuredEnd - measuredStart) / 1000
const sorted = [...measured.latencies].sort((a, b) => a - b)
process.stdout.write(
  `${JSON.stringify({
    workers: workers.length,
    channelsOpenedMs: Math.round(openMs),
    seconds,
    completions: measured.completions,
    requests: measured.requests,
    refreshes: measured.refreshes,
    failures: measured.failures,
    completionsPerSecond: measured.completions / seconds,
    requestsPerSecond: measured.requests / seconds,
    roundTripsPerCompletion: measured.requests / measured.completions,
    latencyMs: { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) },
    warmupCompletions: warm.completions,
  })}\n`,
)

// The challenge alone: unpaid completions, each answered 402 with a fresh challenge.
const challengeConcurrency = 16
process.stdout.write('challenge window start\n')
let challenges = 0
const challengeStart = performance.now()
await Promise.all(
  Array.from({ length: challengeConcurrency }, async () => {
    while (performance.now() - challengeStart < challengeMs) {
      const reply = await post(bodyOf(sequence++))
      if (reply.status !== 402) throw new Error(`expected 402, got ${reply.status}`)
      sessionChallengeOf(reply)
      challenges++
    }
  }),
)
agent.destroy()
process.stdout.write(`challenges ${JSON.stringify({ challenges, seconds: (performance.now() - challengeStart) / 1000 })}\n`)
