// The Worker (src/worker.ts) inside workerd, against the real anvil the global
// setup started (workerd fetches 127.0.0.1 directly): the unpaid 402, a whole
// paid session with the local backend, and what the Durable Objects recorded.
import { env, exports } from 'cloudflare:workers'
import { type Hex, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, inject, it, vi } from 'vitest'
import { sessionClient } from '../../src/client/session-client.js'
import { Challenge, computeChallengeId } from '../../src/protocol/challenge.js'
import { Credential } from '../../src/protocol/credential.js'
import { Receipt } from '../../src/protocol/receipt.js'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { durableObjectStore } from '../../src/stores/cloudflare/store.js'
import worker, { gatewayFor } from '../../src/worker.js'
import { ask, chain, pathUsd, url, zeroFees } from './support.js'

const fetchWorker = (input: string | URL | Request, init?: RequestInit) => exports.default.fetch(input, init)

describe('the Worker', () => {
  it('answers an unpaid completion with 402 and a challenge bound to its secret, payee and escrow', async () => {
    const response = await fetchWorker(url, ask('hello'))
    expect(response.status).toBe(402)
    const challenge = Challenge.parse(response.headers.get('WWW-Authenticate')!) as Challenge
    expect(challenge).toMatchObject({ realm: 'gateway.test', method: 'tempo', intent: 'session' })
    expect(challenge.id).toBe(computeChallengeId({ secretKey: inject('secretKey'), ...challenge }))
    const payee = privateKeyToAccount(inject('payeeKey') as Hex).address.toLowerCase()
    expect(Challenge.request(challenge)).toMatchObject({
      amount: expect.stringMatching(/^[1-9]\d*$/),
      currency: pathUsd,
      recipient: payee,
      unitType: 'request',
      methodDetails: { chainId: 31337, escrowContract: inject('escrowAddress'), requiredCumulative: '100000' },
    })
  })

  it('serves the models, health, the discovery document, and a paid session end to end: open, paid requests, replay refused, idempotent retry, close', async () => {
    const payee = privateKeyToAccount(inject('payeeKey') as Hex).address.toLowerCase()
    // The payee (an anvil account) holds pathUSD: closes can be sent.
    expect(await (await fetchWorker('https://gateway.test/health')).json()).toMatchObject({
      ok: true,
      status: 'ready',
      payee: { address: payee, canSign: true, canPayFees: true, feeToken: pathUsd },
    })
    const models = (await (await fetchWorker('https://gateway.test/v1/models')).json()) as { data: { id: string }[] }
    expect(models.data.map((model) => model.id)).toEqual(['local-echo'])
    const discovery = (await (await fetchWorker('https://gateway.test/openapi.json')).json()) as {
      paths: Record<string, { post?: { 'x-payment-info'?: { offers: unknown[] } } }>
    }
    expect(discovery.paths['/v1/mpp/chat/completions']?.post?.['x-payment-info']?.offers).toEqual([
      expect.objectContaining({ method: 'tempo', intent: 'session', amount: null, currency: pathUsd }),
    ])

    const account = privateKeyToAccount(inject('payerKeys')[0] as Hex)
    const client = sessionClient({
      account,
      chain: chain(),
      transport: http(inject('rpcUrl')),
      deposit: 1_000_000n,
      fees: zeroFees,
      fetch: fetchWorker as typeof fetch,
    })
    let spent = 0n
    for (const question of ['What is a voucher?', 'Who holds the deposit?']) {
      const response = await client.fetch(url, ask(question))
      expect(response.status).toBe(200)
      const completion = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }
      spent += BigInt(completion.usage.prompt_tokens) * 10n + BigInt(completion.usage.completion_tokens) * 20n
      expect(Receipt.parse(response.headers.get('Payment-Receipt')!)).toMatchObject({
        spent: spent.toString(),
        acceptedCumulative: '100000',
      })
    }
    const channel = [...client.channels.values()][0]!
    const store = durableObjectStore(env)
    expect(await store.getChannel(channel.channelId)).toMatchObject({
      spent,
      acceptedCumulative: 100_000n,
      deposit: 1_000_000n,
      payer: account.address.toLowerCase(),
    })

    // A voucher credential used once is refused the second time: the challenge id was consumed in its shard.
    const unpaid = await fetchWorker(url, ask('once only'))
    const challenge = Challenge.parse(unpaid.headers.get('WWW-Authenticate')!) as Challenge
    const signature = await signVoucher(
      account,
      { chainId: channel.chainId, escrow: channel.escrow },
      { channelId: channel.channelId, cumulativeAmount: channel.signedCumulative },
    )
    const payload = { action: 'voucher', channelId: channel.channelId, cumulativeAmount: channel.signedCumulative.toString(), signature }
    const paid = ask('once only', { Authorization: Credential.format({ challenge, payload }) })
    expect((await fetchWorker(url, paid)).status).toBe(200)
    const replay = await fetchWorker(url, paid)
    expect(replay.status).toBe(402)
    expect(await replay.json()).toMatchObject({ code: 'mpp_invalid_challenge' })

    // The same Idempotency-Key replays the stored response and charges once.
    const keyed = ask('idempotent', { 'Idempotency-Key': `workers-${channel.channelId}` })
    const first = await client.fetch(url, keyed)
    expect(first.status).toBe(200)
    const charged = (await store.getChannel(channel.channelId))!.spent
    const second = await client.fetch(url, keyed)
    expect(second.headers.get('Payment-Receipt')).toBe(first.headers.get('Payment-Receipt'))
    expect(await second.text()).toBe(await first.text())
    expect((await store.getChannel(channel.channelId))!.spent).toBe(charged)

    // The payee key (a Worker secret) closes the channel on chain.
    const close = await client.close(url, ask('close'))
    expect(close).toMatchObject({ spent: charged.toString(), txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) })
    expect(await store.getChannel(channel.channelId)).toMatchObject({ finalized: true })
  })

  it('limits opens per CF-Connecting-IP, across two isolates sharing the Durable Objects', async () => {
    // Each env object gets its own app, as each isolate does: only the objects are shared.
    const context = { waitUntil() {}, passThroughOnException() {}, props: {} }
    const isolates = [
      { ...env, OPEN_RATE_LIMIT: '2' },
      { ...env, OPEN_RATE_LIMIT: '2' },
    ]
    // An open whose transaction does not decode: counted, then refused (402) without reaching the chain.
    const open = async (i: number, client: string) => {
      const call = (init: RequestInit) => worker.fetch(new Request(url, init), isolates[i % 2]!, context)
      const headers = { 'CF-Connecting-IP': client }
      const challenge = Challenge.parse((await call(ask('open', headers))).headers.get('WWW-Authenticate')!) as Challenge
      const payload = {
        action: 'open',
        type: 'transaction',
        channelId: `0x${'cd'.repeat(32)}`,
        transaction: '0xdeadbeef',
        cumulativeAmount: '1',
        signature: `0x${'11'.repeat(64)}1b`,
      }
      const refused = await call(ask('open', { ...headers, Authorization: Credential.format({ challenge, payload }) }))
      return { status: refused.status, retryAfter: refused.headers.get('Retry-After') }
    }
    // A /64 no earlier run used: the objects' storage may outlive a run.
    const prefix = `2001:db8:${[...crypto.getRandomValues(new Uint16Array(2))].map((group) => group.toString(16)).join(':')}`
    const outcomes = []
    for (let i = 0; i < 6; i++) outcomes.push(await open(i, `${prefix}::${i + 1}`))
    expect(outcomes.map((outcome) => outcome.status)).toEqual([402, 402, 429, 429, 429, 429])
    expect(Number(outcomes[2]!.retryAfter)).toBeGreaterThanOrEqual(1)
    expect(Number(outcomes[2]!.retryAfter)).toBeLessThanOrEqual(60)
    expect((await open(0, `${prefix.replace('2001', '2002')}::1`)).status).toBe(402)
  })

  it('recovers vouchers on libsecp256k1 as WebAssembly: names it once per isolate as the gateway is built, and pays on it', async () => {
    const log = vi.spyOn(console, 'log')
    const started = () => log.mock.calls.map(([line]) => String(line)).filter((line) => line.includes('"gateway_started"'))
    try {
      // A new env object is a new gateway in this isolate, built at its first request.
      const fresh = { ...env }
      const context = { waitUntil() {}, passThroughOnException() {}, props: {} }
      const fetchFresh = (input: string | URL | Request, init?: RequestInit) => worker.fetch(new Request(input, init), fresh, context)
      const client = sessionClient({
        account: privateKeyToAccount(inject('payerKeys')[2] as Hex),
        chain: chain(),
        transport: http(inject('rpcUrl')),
        deposit: 1_000_000n,
        fees: zeroFees,
        fetch: fetchFresh as typeof fetch,
      })
      // The open's voucher is recovered by this gateway's backend.
      expect((await client.fetch(url, ask('Which curve library?'))).status).toBe(200)
      expect((await client.fetch(url, ask('And again?'))).status).toBe(200)
      expect(started()).toEqual([JSON.stringify({ event: 'gateway_started', secp256k1: 'wasm' })])

      log.mockClear()
      const noble = await worker.fetch(new Request('https://gateway.test/health'), { ...env, SECP256K1_BACKEND: 'noble' }, context)
      expect(noble.status).toBe(200)
      expect(started()).toEqual([JSON.stringify({ event: 'gateway_started', secp256k1: 'noble' })])
      // No N-API addon in workerd: a native backend asked for is refused, not swapped.
      const native = await worker.fetch(new Request('https://gateway.test/health'), { ...env, SECP256K1_BACKEND: 'native' }, context)
      expect(native.status).toBe(500)
      expect(await native.json()).toMatchObject({
        error: {
          message: 'The gateway is misconfigured: SECP256K1_BACKEND: names native, which this runtime cannot load (auto picks what it can)',
        },
      })
    } finally {
      log.mockRestore()
    }
  })

  it('builds the app once per env object, and names a missing or invalid variable (never its value) instead of crashing', async () => {
    expect(gatewayFor(env)).toBe(gatewayFor(env))
    const context = { waitUntil() {}, passThroughOnException() {}, props: {} }
    const response = await worker.fetch(new Request('https://gateway.test/health'), { ...env, MPP_SECRET_KEY: undefined }, context)
    expect(response.status).toBe(500)
    expect(await response.json()).toEqual({
      error: { message: 'The gateway is misconfigured: MPP_SECRET_KEY: is required', type: 'server_error' },
    })
    const invalidKey = await worker.fetch(new Request('https://gateway.test/health'), { ...env, PAYEE_PRIVATE_KEY: '0x1234' }, context)
    const body = await invalidKey.text()
    expect(JSON.parse(body)).toMatchObject({
      error: { message: 'The gateway is misconfigured: PAYEE_PRIVATE_KEY: must be a 0x-prefixed 32-byte hex private key' },
    })
    expect(body).not.toContain('0x1234')
    const typo = await worker.fetch(new Request('https://gateway.test/health'), { ...env, VOUCHER_RATE_LIMIT: 'ten' }, context)
    expect(await typo.json()).toMatchObject({
      error: { message: expect.stringContaining('VOUCHER_RATE_LIMIT: must be a decimal integer') },
    })
  })

  it('serves /metrics behind METRICS_TOKEN inside workerd: 401 without the token, the counters with it', async () => {
    const token = 'workerd-metrics-token-0123456789abcdef'
    const withMetrics = { ...env, METRICS_TOKEN: token }
    const context = { waitUntil() {}, passThroughOnException() {}, props: {} }
    const scrape = (headers: Record<string, string> = {}) =>
      worker.fetch(new Request('https://gateway.test/metrics', { headers }), withMetrics, context)
    expect((await scrape()).status).toBe(401)
    expect((await scrape({ Authorization: 'Bearer wrong-token-0123456789abcdef0123456' })).status).toBe(401)
    expect((await worker.fetch(new Request(url, ask('count me')), withMetrics, context)).status).toBe(402)
    const ok = await scrape({ Authorization: `Bearer ${token}` })
    expect(ok.status).toBe(200)
    const text = await ok.text()
    expect(text).toContain('mpp_requests_total{status="402",code="payment_required"} 1')
    expect(text).toContain('mpp_voucher_verifications_total 0')
    // No channel listing on Durable Objects: the store's gauges are absent, not zero.
    expect(text).not.toContain('mpp_channels')
  })
})
