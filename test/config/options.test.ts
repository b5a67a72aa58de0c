// Every option of the engine, the escrow adapter, the stores, the chat pricing
// and the upstream is validated at construction: a bad one throws a
// ConfigError naming the option and its rule.
import { http } from 'viem'
import { foundry } from 'viem/chains'
import { describe, expect, it } from 'vitest'
import { openAiUpstream } from '../../src/chat/openai-upstream.js'
import { chatPricing } from '../../src/chat/pricing.js'
import { ConfigError } from '../../src/errors/config-error.js'
import { viemEscrow } from '../../src/escrow/viem-escrow.js'
import { closeWatcher } from '../../src/session/close-watch.js'
import { tempoSession } from '../../src/session/engine.js'
import type { TempoSessionOptions } from '../../src/session/options.js'
import { memoryStore } from '../../src/stores/memory.js'
import { pgliteStore, postgresStore } from '../../src/stores/postgres.js'
import { memoryEscrow } from '../support/memory-escrow.js'

function refused(build: () => unknown, subject: string, rule: RegExp) {
  let error: unknown
  try {
    build()
  } catch (caught) {
    error = caught
  }
  expect(error).toBeInstanceOf(ConfigError)
  expect(error).toMatchObject({ subject, rule: expect.stringMatching(rule) })
}

describe('tempoSession options', () => {
  const base = (): TempoSessionOptions => ({
    escrow: memoryEscrow().escrow,
    store: memoryStore(),
    recipient: '0x2222222222222222222222222222222222222222',
    currency: '0x20c0000000000000000000000000000000000000',
  })
  const session = (overrides: Record<string, unknown>) => () => tempoSession({ ...base(), ...overrides } as TempoSessionOptions)

  it('accepts the defaults', () => {
    expect(tempoSession(base()).name).toBe('tempo')
  })

  it.each([
    ['bucketSize', 0n, /≥ 1/],
    ['bucketSize', 10, /bigint/],
    ['verificationsPerSecond', Number.NaN, /integer ≥ 1/],
    ['verificationsPerSecond', 0, /integer ≥ 1/],
    ['verificationsPerSecond', 'ten', /integer ≥ 1/],
    ['verificationsPerSecond', 2.5, /integer ≥ 1/],
    ['opensPerMinute', 0, /integer ≥ 1/],
    ['opensPerMinute', '30', /integer ≥ 1/],
    ['minDeposit', 0n, /≥ 1/],
    ['minVoucherDelta', -1n, /≥ 0/],
    ['chainCacheTtl', -1, /integer ≥ 0/],
    ['voucherReadTtl', -1, /integer ≥ 0/],
    ['voucherReadTtl', '1s', /integer ≥ 0/],
    ['reservationTtl', 0, /integer ≥ 1/],
    ['bucketTtl', Number.POSITIVE_INFINITY, /integer ≥ 1/],
    ['idempotencyTtl', 0, /integer ≥ 1/],
    ['settleThreshold', 0n, /≥ 1/],
    ['readinessTtl', -1, /integer ≥ 0/],
    ['recipient', 'payee', /20-byte hex address/],
    ['currency', undefined, /20-byte hex address/],
    ['now', 5, /function/],
  ])('refuses %s = %s', (option, value, rule) => {
    refused(session({ [option]: value }), `tempoSession.${option}`, rule)
  })

  it('refuses a store or escrow missing what the engine calls, and contradictory deposits', () => {
    refused(session({ store: { getChannel() {} } }), 'tempoSession.store', /updateChannel/)
    const { takeRateLimit: _, ...withoutLimits } = memoryStore()
    refused(session({ store: withoutLimits }), 'tempoSession.store', /takeRateLimit/)
    refused(session({ escrow: { ...memoryEscrow().escrow, settle: undefined } }), 'tempoSession.escrow.settle', /function/)
    refused(session({ escrow: { ...memoryEscrow().escrow, payeeFees: undefined } }), 'tempoSession.escrow.payeeFees', /function/)
    refused(session({ payers: { allow: ['not-an-address'] } }), 'tempoSession.payers.allow.0', /address/)
    refused(session({ minDeposit: 10n, suggestedDeposit: 5n }), 'tempoSession.suggestedDeposit', /at least minDeposit/)
  })
})

describe('viemEscrow options', () => {
  const chain = foundry
  const address = '0x5fbdb2315678afecb367f032d93f642f64180aa3' as const
  it.each([
    ['viemEscrow.address', { address: 'escrow', chain, rpcUrl: 'http://127.0.0.1:8545' }, /address/],
    ['viemEscrow.rpcUrl', { address, chain, rpcUrl: 'localhost:8545' }, /http\(s\) URL/],
    ['viemEscrow', { address, chain }, /exactly one of rpcUrl and transport/],
    ['viemEscrow', { address, chain, rpcUrl: 'http://127.0.0.1:8545', transport: http() }, /exactly one/],
    ['viemEscrow.timeoutMs', { address, chain, rpcUrl: 'http://127.0.0.1:8545', timeoutMs: 0 }, /integer ≥ 1/],
    ['viemEscrow.gas.close', { address, chain, rpcUrl: 'http://127.0.0.1:8545', gas: { close: 10n } }, /≥ 21000/],
    ['viemEscrow.fees.maxFeePerGas', { address, chain, rpcUrl: 'http://127.0.0.1:8545', fees: { maxFeePerGas: -1n } }, /≥ 0/],
    [
      'viemEscrow.fees',
      { address, chain, rpcUrl: 'http://127.0.0.1:8545', fees: { maxFeePerGas: 1n, maxPriorityFeePerGas: 2n } },
      /must not exceed maxFeePerGas/,
    ],
    ['viemEscrow.chain.id', { address, chain: { name: 'x' }, rpcUrl: 'http://127.0.0.1:8545' }, /integer ≥ 1/],
  ] as const)('refuses a bad %s', (subject, options, rule) => {
    refused(() => viemEscrow(options as never), subject, rule)
  })
})

describe('closeWatcher options', () => {
  const session = tempoSession({
    escrow: memoryEscrow().escrow,
    store: memoryStore(),
    recipient: '0x2222222222222222222222222222222222222222',
    currency: '0x20c0000000000000000000000000000000000000',
  })
  const events = {
    address: '0x5fbdb2315678afecb367f032d93f642f64180aa3' as const,
    chainId: 31337,
    latestBlock: async () => 0n,
    closeEvents: async () => [],
  }
  const watcher = (overrides: Record<string, unknown>) => () =>
    closeWatcher({ session, events, cursors: memoryStore(), ...overrides } as Parameters<typeof closeWatcher>[0])

  it('names the cursor after the chain, the escrow and the payee', () => {
    expect(watcher({})().cursorName).toBe(
      'close-watch/31337/0x5fbdb2315678afecb367f032d93f642f64180aa3/0x2222222222222222222222222222222222222222',
    )
  })

  it.each([
    ['intervalMs', 0, /integer ≥ 1/],
    ['lookbackBlocks', 0, /integer ≥ 1/],
    ['maxBlockRange', 1.5, /integer ≥ 1/],
    ['onError', 'log', /function/],
    ['cursors', { readCursor() {} }, /advanceCursor/],
    ['events', { latestBlock() {} }, /closeEvents/],
    ['session', { recipient: 'payee', followCloseRequest() {} }, /address/],
  ])('refuses %s = %s', (option, value, rule) => {
    refused(watcher({ [option]: value }), option === 'session' ? 'closeWatcher.session.recipient' : `closeWatcher.${option}`, rule)
  })
})

describe('store options', () => {
  it('refuses what cannot open a store', () => {
    refused(() => memoryStore({ now: 1 as never }), 'memoryStore.now', /function/)
    refused(() => postgresStore({ connectionString: 'mysql://db' }), 'postgresStore.connectionString', /postgres:\/\//)
    refused(() => pgliteStore({ dataDir: '' }), 'pgliteStore.dataDir', /directory path/)
    refused(() => pgliteStore({ sweepIntervalMs: 0 }), 'pgliteStore.sweepIntervalMs', /integer ≥ 1/)
  })
})

describe('chat options', () => {
  const model = { id: 'm', inputTokenPrice: 1n, outputTokenPrice: 2n, maxOutputTokens: 10 }
  it('refuses a catalogue that cannot price requests', () => {
    refused(() => chatPricing([]), 'catalogue', /at least one model/)
    refused(() => chatPricing([model, model]), 'catalogue', /unique/)
    refused(() => chatPricing([{ ...model, inputTokenPrice: -1n }]), 'catalogue.0.inputTokenPrice', /≥ 0/)
    refused(() => chatPricing([{ ...model, maxOutputTokens: 0 }]), 'catalogue.0.maxOutputTokens', /positive integer/)
  })

  it('refuses an upstream it could never reach', () => {
    refused(() => openAiUpstream({ baseUrl: 'api.openai.com' }), 'openAiUpstream.baseUrl', /http\(s\) URL/)
    refused(() => openAiUpstream({ baseUrl: 'https://api.openai.com/v1', timeoutMs: -5 }), 'openAiUpstream.timeoutMs', /integer ≥ 1/)
  })
})
