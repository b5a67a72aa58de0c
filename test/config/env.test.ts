// Every environment variable of the Node and Workers entries is validated at
// start: a bad value is refused with a ConfigError naming the variable and its
// rule, never its value.
import { describe, expect, it } from 'vitest'
import { type GatewayEnv, gatewayConfigFromEnv } from '../../src/env.js'
import { ConfigError } from '../../src/errors/config-error.js'
import { storeFromEnv } from '../../src/node.js'
import { memoryStore } from '../../src/stores/memory.js'

const valid: GatewayEnv = {
  MPP_SECRET_KEY: 'env-test-secret-key-at-least-32-bytes-long',
  RPC_URL: 'http://127.0.0.1:8545',
  CHAIN_ID: '31337',
  ESCROW_ADDRESS: '0x5FbDB2315678afecb367f032d93f642f64180aa3',
  PAYEE_ADDRESS: '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
}

const build = (overrides: Record<string, string | undefined>) => gatewayConfigFromEnv({ ...valid, ...overrides }, memoryStore())

/** Builds with `overrides` and returns the ConfigError (failing the test if there is none). */
function refusal(overrides: Record<string, string | undefined>): ConfigError {
  try {
    build(overrides)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error(`accepted ${JSON.stringify(overrides)}`)
}

describe('gateway environment', () => {
  it('accepts a valid environment, with defaults filled in', () => {
    const config = build({})
    expect(config.realm).toBe('localhost')
    expect(config.recipient).toBe('0x90f79bf6eb2c4f870365e785982e1f101e93b906')
    expect(config.session).toMatchObject({ bucketSize: 1_000_000n, verificationsPerSecond: 10, opensPerMinute: 30, reservationTtl: 90_000 })
    // An empty string counts as unset.
    expect(build({ VOUCHER_RATE_LIMIT: '', TOKEN_ADDRESS: '' }).session?.verificationsPerSecond).toBe(10)
  })

  it.each([
    ['MPP_SECRET_KEY', undefined, /is required/],
    ['RPC_URL', undefined, /is required for chain 31337/],
    ['CHAIN_ID', undefined, /is required/],
    ['ESCROW_ADDRESS', undefined, /is required for chain 31337/],
    ['MPP_SECRET_KEY', 'short-secret', /at least 32 bytes/],
    ['MPP_SECRET_KEY', `${valid.MPP_SECRET_KEY},short-second-key`, /at least 32 bytes/],
    ['RPC_URL', 'not a url', /http\(s\) URL/],
    ['RPC_URL', 'ftp://127.0.0.1', /http\(s\) URL/],
    ['CHAIN_ID', 'abc', /decimal integer/],
    ['CHAIN_ID', '0', /decimal integer/],
    ['CHAIN_ID', '1.5', /decimal integer/],
    ['ESCROW_ADDRESS', 'nonsense', /20-byte hex address/],
    ['ESCROW_ADDRESS', '0x1234', /20-byte hex address/],
    ['TOKEN_ADDRESS', '0xZZ00000000000000000000000000000000000000', /20-byte hex address/],
    ['PAYEE_PRIVATE_KEY', '0x1234', /32-byte hex private key/],
    ['PAYEE_ADDRESS', 'payee', /20-byte hex address/],
    ['UPSTREAM_BASE_URL', 'api.openai.com/v1', /http\(s\) URL/],
    ['UPSTREAM_TIMEOUT_MS', '0', /decimal integer/],
    ['UPSTREAM_TIMEOUT_MS', '30s', /decimal integer/],
    ['MODEL_CATALOGUE', '{"id":"m"}', /JSON list/],
    ['MODEL_CATALOGUE', '[]', /JSON list/],
    ['MODEL_CATALOGUE', '[{"id":"m","inputTokenPrice":-1,"outputTokenPrice":1,"maxOutputTokens":1}]', /JSON list/],
    ['BUCKET_SIZE', '0', /positive decimal integer/],
    ['BUCKET_SIZE', '-5', /positive decimal integer/],
    ['BUCKET_TTL_MS', 'forever', /decimal integer/],
    ['VOUCHER_RATE_LIMIT', 'ten', /decimal integer/],
    ['VOUCHER_RATE_LIMIT', '0', /decimal integer/],
    ['VOUCHER_RATE_LIMIT', '2.5', /decimal integer/],
    ['VOUCHER_RATE_LIMIT', 'Infinity', /decimal integer/],
    ['OPEN_RATE_LIMIT', '0', /decimal integer/],
    ['OPEN_RATE_LIMIT', '30/min', /decimal integer/],
    ['SETTLE_THRESHOLD', '1e6', /positive decimal integer/],
    ['PAYEE_FEE_TOKEN', 'pathUSD', /20-byte hex address/],
    ['PAYEE_MAX_FEE_PER_GAS', '2 gwei', /decimal integer/],
    ['PAYEE_MAX_FEE_PER_GAS', '-1', /decimal integer/],
    ['PAYEE_PRIORITY_FEE_PER_GAS', '1.5', /decimal integer/],
    ['MPP_REALM', 'two words', /visible ASCII/],
  ])('refuses %s=%s, naming it', (name, value, rule) => {
    const error = refusal({ [name]: value })
    expect(error.subject).toBe(name)
    expect(error.rule).toMatch(rule)
    // The value itself is never part of the error.
    if (value !== undefined && value.length > 3) expect(error.message).not.toContain(value)
  })

  it('needs only the keys on a known Tempo network: RPC, escrow and token default per chain', () => {
    const moderato = build({ CHAIN_ID: '42431', RPC_URL: undefined, ESCROW_ADDRESS: undefined })
    expect(moderato.escrow.address).toBe('0xe1c4d3dce17bc111181ddf716f75bae49e61a336')
    expect(moderato.currency).toBe('0x20c0000000000000000000000000000000000000')
    const mainnet = build({ CHAIN_ID: '4217', RPC_URL: undefined, ESCROW_ADDRESS: undefined })
    expect(mainnet).toMatchObject({ currency: '0x20c000000000000000000000b9537d11c60e8b50' })
    expect(mainnet.escrow).toMatchObject({ address: '0x33b901018174ddabe4841042ab76ba85d4e24f25', chainId: 4217 })
    // An explicit value still wins.
    expect(build({ CHAIN_ID: '42431', ESCROW_ADDRESS: '0x1111111111111111111111111111111111111111' }).escrow.address).toBe(
      '0x1111111111111111111111111111111111111111',
    )
  })

  it('cannot have its rate limits turned off by a typo: every accepted value is a positive integer limit', () => {
    for (const typo of ['ten', '10 ', '1O', 'NaN', '-1', '0x10', '1e3'])
      expect(refusal({ VOUCHER_RATE_LIMIT: typo }).subject).toBe('VOUCHER_RATE_LIMIT')
    expect(build({ VOUCHER_RATE_LIMIT: '3' }).session?.verificationsPerSecond).toBe(3)
    for (const typo of ['thirty', '-1', '1e2']) expect(refusal({ OPEN_RATE_LIMIT: typo }).subject).toBe('OPEN_RATE_LIMIT')
    expect(build({ OPEN_RATE_LIMIT: '5' }).session?.opensPerMinute).toBe(5)
  })

  it('takes a body limit between 1 KiB and 64 MiB, unset by default (the payment layer then reads up to 4 MiB)', () => {
    expect(build({}).maxBodyBytes).toBeUndefined()
    expect(build({ MAX_BODY_BYTES: '1048576' }).maxBodyBytes).toBe(1_048_576)
    for (const typo of ['1MiB', '0', '1023', String(64 * 1024 * 1024 + 1), '1e6'])
      expect(refusal({ MAX_BODY_BYTES: typo }).subject).toBe('MAX_BODY_BYTES')
  })

  it('follows forced closes of the escrow it pays through, polling every 2 s unless CLOSE_WATCH_INTERVAL_MS (100 ms to 10 min) says otherwise', () => {
    const config = build({})
    expect(config.closeWatch?.events).toBe(config.escrow)
    expect(config.closeWatch?.intervalMs).toBeUndefined()
    expect(build({ CLOSE_WATCH_INTERVAL_MS: '500' }).closeWatch?.intervalMs).toBe(500)
    for (const typo of ['2s', '0', '99', '600001', '1e3'])
      expect(refusal({ CLOSE_WATCH_INTERVAL_MS: typo }).subject).toBe('CLOSE_WATCH_INTERVAL_MS')
  })

  it('caps the voucher step at MAX_UNSETTLED_EXPOSURE when set, never below BUCKET_SIZE', () => {
    expect(build({}).session?.maxUnsettledExposure).toBeUndefined()
    expect(build({ MAX_UNSETTLED_EXPOSURE: '2000000' }).session?.maxUnsettledExposure).toBe(2_000_000n)
    expect(build({ BUCKET_SIZE: '1000', MAX_UNSETTLED_EXPOSURE: '1000' }).session?.maxUnsettledExposure).toBe(1_000n)
    expect(refusal({ MAX_UNSETTLED_EXPOSURE: '999999' }).subject).toBe('MAX_UNSETTLED_EXPOSURE') // default bucket: 1,000,000
    expect(refusal({ MAX_UNSETTLED_EXPOSURE: '0' }).subject).toBe('MAX_UNSETTLED_EXPOSURE')
    expect(refusal({ MAX_UNSETTLED_EXPOSURE: '2000000', SESSION_PROTOCOL: 'v2' }).subject).toBe('MAX_UNSETTLED_EXPOSURE')
  })

  it('serves /metrics only with METRICS_TOKEN: 32 or more token68 characters, never echoed', () => {
    expect(build({}).metricsToken).toBeUndefined()
    const token = 'metrics-token-of-at-least-32-chars_~+/='
    expect(build({ METRICS_TOKEN: token }).metricsToken).toBe(token)
    for (const bad of ['x'.repeat(31), `${'x'.repeat(32)} space`, `${'x'.repeat(32)}"`, `=${'x'.repeat(32)}`]) {
      const error = refusal({ METRICS_TOKEN: bad })
      expect(error.subject).toBe('METRICS_TOKEN')
      expect(error.message).not.toContain(bad)
    }
  })

  it('recovers vouchers on the secp256k1 backend SECP256K1_BACKEND names, by default (auto) the fastest that loads: native on Node', () => {
    expect(build({}).session?.recovery?.name).toBe('native')
    expect(build({ SECP256K1_BACKEND: '' }).session?.recovery?.name).toBe('native')
    for (const name of ['auto', 'native', 'wasm', 'noble'])
      expect(build({ SECP256K1_BACKEND: name }).session?.recovery?.name).toBe(name === 'auto' ? 'native' : name)
    for (const typo of ['NATIVE', 'openssl', 'wasm ', 'elliptic']) {
      const error = refusal({ SECP256K1_BACKEND: typo })
      expect(error.subject).toBe('SECP256K1_BACKEND')
      expect(error.rule).toBe('must be one of auto, native, wasm, noble')
    }
  })

  it("refuses a payee's tip above its fee cap", () => {
    expect(refusal({ PAYEE_MAX_FEE_PER_GAS: '10', PAYEE_PRIORITY_FEE_PER_GAS: '11' })).toMatchObject({
      subject: 'PAYEE_PRIORITY_FEE_PER_GAS',
      rule: 'must not exceed PAYEE_MAX_FEE_PER_GAS',
    })
    expect(() => build({ PAYEE_MAX_FEE_PER_GAS: '10', PAYEE_PRIORITY_FEE_PER_GAS: '10' })).not.toThrow()
  })

  it('needs a payee: its key, or its address, and both must agree', () => {
    expect(refusal({ PAYEE_ADDRESS: undefined })).toMatchObject({ subject: 'PAYEE_ADDRESS', rule: expect.stringMatching(/required/) })
    // Anvil's account 4 key; its address is not the one configured.
    const key = '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a'
    expect(refusal({ PAYEE_PRIVATE_KEY: key, PAYEE_ADDRESS: '0x0000000000000000000000000000000000000001' }).subject).toBe('PAYEE_ADDRESS')
    expect(build({ PAYEE_PRIVATE_KEY: key, PAYEE_ADDRESS: undefined }).recipient).toBe('0x15d34aaf54267db7d7c367839aaf71a00a2c6a65')
  })

  it('never echoes a secret in the error', () => {
    const secret = 'an-obviously-secret-too-short'
    expect(JSON.stringify(refusal({ MPP_SECRET_KEY: secret }))).not.toContain(secret)
    const key = `0x${'ab'.repeat(31)}`
    expect(refusal({ PAYEE_PRIVATE_KEY: key }).message).not.toContain(key)
  })
})

describe('Node entry environment', () => {
  it.each([
    ['DATABASE_URL', 'mysql://localhost/db', /postgres:\/\//],
    ['DATABASE_URL', 'postgres://', /postgres:\/\//],
    ['PORT', '80808', /port number/],
    ['PORT', 'http', /port number/],
  ])('refuses %s=%s, naming it', (name, value, rule) => {
    let error: unknown
    try {
      storeFromEnv({ [name]: value })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect(error).toMatchObject({ subject: name, rule: expect.stringMatching(rule) })
  })
})
