// One engine, one session protocol (issue 15): an engine offers the protocol it
// was built for, takes only credentials in it, and refuses a v2 option on v1.
// The engine on the in-memory escrow: the refusals come before any chain work.

import type { Address } from 'viem'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../../src/errors/config-error.js'
import { Challenge } from '../../../src/protocol/challenge.js'
import { tempoSession } from '../../../src/session/engine.js'
import { memoryStore } from '../../../src/stores/memory.js'
import { engineFixture, payee, problem, token } from '../../support/engine.js'
import { memoryEscrow } from '../../support/memory-escrow.js'

const operator: Address = '0x4444444444444444444444444444444444444444'
const descriptor = {
  payer: '0x1111111111111111111111111111111111111111',
  payee,
  operator: '0x0000000000000000000000000000000000000000',
  token,
  salt: `0x${'5a'.repeat(32)}`,
  authorizedSigner: '0x0000000000000000000000000000000000000000',
  expiringNonceHash: `0x${'e7'.repeat(32)}`,
}

describe('the session protocol an engine speaks', () => {
  it('v1 (the default) offers v1 and refuses a v2 payload, one carrying a descriptor, as malformed', async () => {
    const { pay, openPayload, challengeFor } = engineFixture()
    expect((Challenge.request(await challengeFor()) as { methodDetails: object }).methodDetails).toMatchObject({ sessionProtocol: 'v1' })
    const { payload } = await openPayload()
    expect(await problem(await pay({ ...payload, descriptor }))).toMatchObject({ code: 'mpp_malformed_credential' })
  })

  it('v2 offers v2 with its operator, and refuses a v1 payload (no descriptor) as malformed', async () => {
    const { pay, openPayload, challengeFor } = engineFixture({ sessionProtocol: 'v2', operator })
    const { methodDetails } = Challenge.request(await challengeFor()) as { methodDetails: Record<string, unknown> }
    expect(methodDetails).toMatchObject({ sessionProtocol: 'v2', operator })
    const { payload } = await openPayload()
    const refused = await problem(await pay(payload))
    expect(refused).toMatchObject({ code: 'mpp_malformed_credential' })
    expect(refused.detail).toMatch(/descriptor/)
  })

  it("recognizes only challenges of its own protocol, so two engines can share a route's method name", () => {
    const common = { escrow: memoryEscrow().escrow, store: memoryStore(), recipient: payee as Address, currency: token as Address }
    const v1 = tempoSession(common)
    const v2 = tempoSession({ ...common, sessionProtocol: 'v2' })
    expect(v1.recognizes?.({ methodDetails: { sessionProtocol: 'v1' } })).toBe(true)
    expect(v1.recognizes?.({ methodDetails: { sessionProtocol: 'v2' } })).toBe(false)
    expect(v2.recognizes?.({ methodDetails: { sessionProtocol: 'v2' } })).toBe(true)
    expect(v2.recognizes?.({ methodDetails: { sessionProtocol: 'v1' } })).toBe(false)
  })

  it('refuses an operator on v1 and an unknown protocol at start', () => {
    const common = { escrow: memoryEscrow().escrow, store: memoryStore(), recipient: payee as Address, currency: token as Address }
    expect(() => tempoSession({ ...common, operator })).toThrow(ConfigError)
    expect(() => tempoSession({ ...common, sessionProtocol: 'v3' as never })).toThrow(/sessionProtocol/)
  })
})
