// SESSION_PROTOCOL and SESSION_OPERATOR (issue 15): v1 by default, so nothing
// existing changes; v2 takes the channel reserve precompile as its escrow
// unless ESCROW_ADDRESS names another.
import { describe, expect, it } from 'vitest'
import { type GatewayEnv, gatewayConfigFromEnv } from '../../src/env.js'
import { memoryStore } from '../../src/stores/memory.js'

const valid: GatewayEnv = {
  MPP_SECRET_KEY: 'env-test-secret-key-at-least-32-bytes-long',
  RPC_URL: 'http://127.0.0.1:8545',
  CHAIN_ID: '31337',
  PAYEE_ADDRESS: '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
}
const build = (overrides: GatewayEnv) => gatewayConfigFromEnv({ ...valid, ...overrides }, memoryStore())
const operator = '0x4444444444444444444444444444444444444444'

describe('SESSION_PROTOCOL', () => {
  it('is v1 by default, on the escrow ESCROW_ADDRESS names', () => {
    const config = build({ ESCROW_ADDRESS: '0x5FbDB2315678afecb367f032d93f642f64180aa3' })
    expect(config.session?.sessionProtocol).toBe('v1')
    expect(config.escrow.address).toBe('0x5fbdb2315678afecb367f032d93f642f64180aa3')
  })

  it('v2 defaults the escrow to the precompile and passes the operator on', () => {
    const config = build({ SESSION_PROTOCOL: 'v2', SESSION_OPERATOR: operator })
    expect(config.session).toMatchObject({ sessionProtocol: 'v2', operator })
    expect(config.escrow.address).toBe('0x4d50500000000000000000000000000000000000')
    expect(build({ SESSION_PROTOCOL: 'v2', ESCROW_ADDRESS: operator }).escrow.address).toBe(operator)
  })

  it('refuses an unknown protocol, and an operator without v2', () => {
    expect(() => build({ SESSION_PROTOCOL: 'v3' })).toThrow(/SESSION_PROTOCOL.*must be v1 or v2/)
    expect(() => build({ ESCROW_ADDRESS: operator, SESSION_OPERATOR: operator })).toThrow(/SESSION_OPERATOR.*needs SESSION_PROTOCOL=v2/)
  })
})
