// The streaming switch and settings from the environment (README: Streaming).
import { describe, expect, it } from 'vitest'
import { type GatewayEnv, gatewayConfigFromEnv } from '../../src/env.js'
import { ConfigError } from '../../src/errors/config-error.js'
import { memoryStore } from '../../src/stores/memory.js'

const valid: GatewayEnv = {
  MPP_SECRET_KEY: 'env-test-secret-key-at-least-32-bytes-long',
  RPC_URL: 'http://127.0.0.1:8545',
  CHAIN_ID: '31337',
  ESCROW_ADDRESS: '0x5FbDB2315678afecb367f032d93f642f64180aa3',
  PAYEE_ADDRESS: '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
}
const build = (overrides: GatewayEnv) => gatewayConfigFromEnv({ ...valid, ...overrides }, memoryStore())
const subjectOf = (overrides: GatewayEnv) => {
  try {
    build(overrides)
  } catch (error) {
    if (error instanceof ConfigError) return error.subject
    throw error
  }
  return 'accepted'
}

describe('streaming environment', () => {
  it('streams by default, with the default window and voucher timeout', () => {
    expect(build({}).streaming).toEqual({})
  })

  it('is switched off by STREAMING=off, and takes its window and voucher timeout from the environment', () => {
    expect(build({ STREAMING: 'off' }).streaming).toBe(false)
    expect(build({ STREAMING: 'on', STREAM_WINDOW_TOKENS: '32', STREAM_VOUCHER_TIMEOUT_MS: '5000' }).streaming).toEqual({
      windowTokens: 32,
      voucherTimeoutMs: 5_000,
    })
  })

  it('refuses anything else', () => {
    for (const typo of ['false', '0', 'OFF']) expect(subjectOf({ STREAMING: typo })).toBe('STREAMING')
    for (const typo of ['0', '1.5', '64 tokens']) expect(subjectOf({ STREAM_WINDOW_TOKENS: typo })).toBe('STREAM_WINDOW_TOKENS')
    expect(subjectOf({ STREAM_VOUCHER_TIMEOUT_MS: '0' })).toBe('STREAM_VOUCHER_TIMEOUT_MS')
  })
})
