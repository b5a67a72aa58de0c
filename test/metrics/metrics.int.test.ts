// GET /metrics on a real gateway over anvil: behind its bearer token, in the
// Prometheus text format, its counters moved by paid requests and its channel
// gauges read from the store.
import { http, type LocalAccount } from 'viem'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { pathUsdAddress } from '../../contracts-abi/tip20.js'
import { createGateway } from '../../src/app.js'
import { localBackend } from '../../src/chat/local-backend.js'
import { sessionClient } from '../../src/client/session-client.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import type { PaymentLogEntry } from '../../src/payment/logger.js'
import { memoryStore } from '../../src/stores/memory.js'
import { type Anvil, deployEscrow, startAnvil, testAccounts, testClient, zeroFees } from '../harness/local-chain.js'
import { closedPort } from '../support/ports.js'

const token = 'metrics-test-token-0123456789abcdefghij'
const metricsUrl = 'http://gateway.test/metrics'
const completionsUrl = 'http://gateway.test/v1/mpp/chat/completions'
const chat = {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ model: 'local-echo', max_tokens: 16, messages: [{ role: 'user', content: 'What is a voucher?' }] }),
}

type Line = { name: string; labels: Record<string, string>; value: string }

/** A strict reader of the 0.0.4 text format: every line a HELP, a TYPE or a sample of a typed family. */
function parseExposition(text: string) {
  expect(text.endsWith('\n')).toBe(true)
  const types = new Map<string, string>()
  const samples: Line[] = []
  for (const line of text.slice(0, -1).split('\n')) {
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line)
    if (comment) {
      if (comment[1] === 'TYPE') types.set(comment[2]!, comment[3]!)
      continue
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    expect(sample, line).not.toBeNull()
    const [, name, labelText, value] = sample!
    const labels = Object.fromEntries(
      [...(labelText ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]),
    )
    const family = [...types.keys()].find(
      (f) => name === f || (types.get(f) === 'histogram' && /^_(bucket|sum|count)$/.test(name!.slice(f.length)) && name!.startsWith(f)),
    )
    expect(family, `${name} has a TYPE`).toBeDefined()
    expect(Number.isNaN(Number(value)) && value !== 'NaN', line).toBe(false)
    samples.push({ name: name!, labels, value: value! })
  }
  const value = (name: string, labels: Record<string, string> = {}) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
  return { types, samples, value }
}

describe('GET /metrics', () => {
  let anvil: Anvil
  let gateway: ReturnType<typeof createGateway>
  const logs: PaymentLogEntry[] = []
  const fetch = async (input: string | URL | Request, init?: RequestInit) => gateway.app.fetch(new Request(input as string, init))
  const scrape = (authorization?: string) => fetch(metricsUrl, authorization ? { headers: { Authorization: authorization } } : {})

  beforeAll(async () => {
    anvil = await startAnvil({ tempo: true })
    const escrowAddress = await deployEscrow(testClient(anvil, testAccounts[3]!))
    const payee = testAccounts[4]!
    gateway = createGateway({
      realm: 'gateway.test',
      secretKey: 'metrics-test-secret-key-at-least-32-bytes',
      escrow: viemEscrow({
        address: escrowAddress,
        chain: anvil.chain,
        rpcUrl: anvil.rpcUrl,
        payee,
        fees: zeroFees,
        pollingIntervalMs: 10,
      }),
      store: memoryStore(),
      recipient: payee.address,
      currency: pathUsdAddress,
      backend: localBackend(),
      session: { bucketSize: 100_000n },
      metricsToken: token,
      logger: (entry) => logs.push(entry),
    })
  })
  afterAll(async () => {
    await anvil?.stop()
  })

  it('answers 401 without the token or with a wrong one, 400 for another scheme, and 200 with it', async () => {
    const missing = await scrape()
    expect(missing.status).toBe(401)
    expect(missing.headers.get('WWW-Authenticate')).toMatch(/^Bearer/)
    expect((await scrape(`Bearer ${token.slice(0, -1)}x`)).status).toBe(401)
    // Another scheme is a malformed request to bearer-auth (RFC 6750 invalid_request): 400, still no metrics.
    expect((await scrape(`Basic ${token}`)).status).toBe(400)
    const ok = await scrape(`Bearer ${token}`)
    expect(ok.status).toBe(200)
    expect(ok.headers.get('Content-Type')).toBe('text/plain; version=0.0.4; charset=utf-8')
  })

  it('counts paid requests, revenue and latency, and sums the channels in the store', async () => {
    const before = parseExposition(await (await scrape(`Bearer ${token}`)).text())
    expect(before.types.get('mpp_requests_total')).toBe('counter')
    expect(before.types.get('mpp_request_duration_seconds')).toBe('histogram')
    expect(before.types.get('mpp_channel_exposure_base_units')).toBe('gauge')
    expect(before.value('mpp_revenue_spent_base_units_total')).toBe('0')
    expect(before.value('mpp_channels', { state: 'open' })).toBe('0')

    const client = sessionClient({
      account: testAccounts[5]! as LocalAccount,
      chain: anvil.chain,
      transport: http(anvil.rpcUrl),
      deposit: 1_000_000n,
      fees: zeroFees,
      fetch,
    })
    for (let i = 0; i < 2; i++) {
      const response = await client.fetch(completionsUrl, chat)
      expect(response.status).toBe(200)
      await response.text()
    }
    const channel = [...client.channels.values()][0]!
    expect(channel.spent).toBeGreaterThan(0n)

    const after = parseExposition(await (await scrape(`Bearer ${token}`)).text())
    // Each 402 challenge and each paid answer is one decided request.
    expect(Number(after.value('mpp_requests_total', { status: '200', code: 'paid' }))).toBe(2)
    expect(Number(after.value('mpp_requests_total', { status: '402' }))).toBeGreaterThanOrEqual(1)
    expect(after.value('mpp_revenue_spent_base_units_total')).toBe(channel.spent.toString())
    const count = Number(after.value('mpp_request_duration_seconds_count'))
    expect(count).toBeGreaterThanOrEqual(3)
    expect(after.value('mpp_request_duration_seconds_bucket', { le: '+Inf' })).toBe(String(count))
    // The configured logger still gets every entry the metrics counted.
    expect(logs).toHaveLength(count)
    expect(Number(after.value('mpp_request_duration_seconds_bucket', { le: '0.005' }))).toBeLessThanOrEqual(count)
    expect(after.value('mpp_channels', { state: 'open' })).toBe('1')
    expect(after.value('mpp_channel_spent_base_units')).toBe(channel.spent.toString())
    expect(after.value('mpp_channel_settled_base_units')).toBe('0')
    expect(after.value('mpp_channel_exposure_base_units')).toBe(channel.spent.toString())
    // One bucket voucher (the open's) paid both requests: one signature checked.
    expect(before.value('mpp_voucher_verifications_total')).toBe('0')
    expect(after.value('mpp_voucher_verifications_total')).toBe('1')
  })
})

/** A gateway that never reaches its chain: enough for routes and 402 challenges. */
const offlineGateway = (metricsToken?: string) =>
  createGateway({
    realm: 'gateway.test',
    secretKey: 'metrics-test-secret-key-at-least-32-bytes',
    escrow: viemEscrow({ address: testAccounts[3]!.address, chain: { id: 31337 } as never, rpcUrl: 'http://127.0.0.1:1' }),
    store: memoryStore(),
    recipient: testAccounts[4]!.address,
    currency: pathUsdAddress,
    backend: localBackend(),
    ...(metricsToken ? { metricsToken } : {}),
  }).app

describe('background jobs', () => {
  it('counts what the close watcher and the sweeper fail to do outside any request, by job and code', async () => {
    const silenced = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const gateway = createGateway({
        realm: 'gateway.test',
        secretKey: 'metrics-test-secret-key-at-least-32-bytes',
        escrow: viemEscrow({
          address: testAccounts[3]!.address,
          chain: { id: 31337 } as never,
          rpcUrl: `http://127.0.0.1:${await closedPort()}`,
        }),
        closeWatch: {
          events: viemEscrow({
            address: testAccounts[3]!.address,
            chain: { id: 31337 } as never,
            rpcUrl: `http://127.0.0.1:${await closedPort()}`,
          }),
        },
        sweep: {},
        store: memoryStore(),
        recipient: testAccounts[4]!.address,
        currency: pathUsdAddress,
        backend: localBackend(),
        metricsToken: token,
      })
      gateway.watcher!.start()
      await gateway.watcher!.stop()
      const scraped = parseExposition(
        await (await gateway.app.fetch(new Request(metricsUrl, { headers: { Authorization: `Bearer ${token}` } }))).text(),
      )
      expect(scraped.types.get('mpp_background_errors_total')).toBe('counter')
      expect(scraped.value('mpp_background_errors_total', { job: 'close_watch', code: 'mpp_chain_unavailable' })).toBe('1')
      // The default log line is still written.
      expect(silenced).toHaveBeenCalledWith(JSON.stringify({ event: 'close_watch_failed', code: 'mpp_chain_unavailable' }))
      expect(gateway.sweeper).toBeDefined()
    } finally {
      silenced.mockRestore()
    }
  })
})

describe('without METRICS_TOKEN', () => {
  it('has no /metrics route', async () => {
    const app = offlineGateway()
    expect((await app.fetch(new Request(metricsUrl, { headers: { Authorization: `Bearer ${token}` } }))).status).toBe(404)
  })
})

describe('with METRICS_TOKEN and no logger', () => {
  it('still writes the default log line of each request it counts', async () => {
    const app = offlineGateway(token)
    const printed = vi.spyOn(console, 'log').mockImplementation(() => {})
    try {
      expect((await app.fetch(new Request(completionsUrl, chat))).status).toBe(402)
      expect(printed).toHaveBeenCalledTimes(1)
      expect(JSON.parse(String(printed.mock.calls[0]![0]))).toMatchObject({ status: 402, code: 'payment_required' })
    } finally {
      printed.mockRestore()
    }
    const metrics = await (await app.fetch(new Request(metricsUrl, { headers: { Authorization: `Bearer ${token}` } }))).text()
    expect(metrics).toContain('mpp_requests_total{status="402",code="payment_required"} 1')
  })
})
