// The Node server's limits from the environment (and as `nodeServer`
// options): validated at start, refused with the variable's name and rule.
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors/config-error.js'
import { defaultServerLimits, nodeServer } from '../../src/node/server.js'
import { serverLimitsFromEnv } from '../../src/node.js'

/** The ConfigError `build` throws (failing the test if there is none). */
function refusal(build: () => unknown): ConfigError {
  try {
    build()
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('accepted')
}

describe('the Node server limits from the environment', () => {
  it('defaults each limit, and reads the ones set (an empty string counts as unset)', () => {
    expect(serverLimitsFromEnv({})).toEqual({
      maxHeaderBytes: 65_536,
      headersTimeoutMs: 20_000,
      requestTimeoutMs: 60_000,
      keepAliveTimeoutMs: 5_000,
    })
    expect(defaultServerLimits).toEqual(serverLimitsFromEnv({}))
    const env = { MAX_HEADER_BYTES: '32768', HEADERS_TIMEOUT_MS: '500', REQUEST_TIMEOUT_MS: '1000', KEEP_ALIVE_TIMEOUT_MS: '65000' }
    expect(serverLimitsFromEnv(env)).toEqual({
      maxHeaderBytes: 32_768,
      headersTimeoutMs: 500,
      requestTimeoutMs: 1_000,
      keepAliveTimeoutMs: 65_000,
    })
    expect(serverLimitsFromEnv({ MAX_HEADER_BYTES: '' }).maxHeaderBytes).toBe(65_536)
  })

  it.each([
    ['MAX_HEADER_BYTES', '16383', /between 16384 and 1048576/],
    ['MAX_HEADER_BYTES', '1048577', /between 16384 and 1048576/],
    ['MAX_HEADER_BYTES', '64k', /decimal integer/],
    ['HEADERS_TIMEOUT_MS', '0', /between 1 and 3600000/],
    ['REQUEST_TIMEOUT_MS', '1.5', /decimal integer/],
    ['KEEP_ALIVE_TIMEOUT_MS', '-1', /decimal integer/],
    // Above the default request timeout (60 s), which bounds the whole request, headers included.
    ['HEADERS_TIMEOUT_MS', '60001', /at most REQUEST_TIMEOUT_MS/],
  ])('refuses %s=%s, naming it and its rule', (name, value, rule) => {
    const error = refusal(() => serverLimitsFromEnv({ [name]: value }))
    expect(error.subject).toBe(name)
    expect(error.rule).toMatch(rule)
  })

  it('refuses a headers timeout above the request timeout set beside it', () => {
    const error = refusal(() => serverLimitsFromEnv({ HEADERS_TIMEOUT_MS: '2000', REQUEST_TIMEOUT_MS: '1000' }))
    expect(error.subject).toBe('HEADERS_TIMEOUT_MS')
  })
})

describe('nodeServer limits', () => {
  const fetch = () => new Response(null)

  it.each([
    [{ maxHeaderBytes: 8_192 }, 'nodeServer.limits.maxHeaderBytes'],
    [{ requestTimeoutMs: 0 }, 'nodeServer.limits.requestTimeoutMs'],
    [{ keepAliveTimeoutMs: 1.5 }, 'nodeServer.limits.keepAliveTimeoutMs'],
    [{ headersTimeoutMs: 2_000, requestTimeoutMs: 1_000 }, 'nodeServer.limits.headersTimeoutMs'],
  ])('refuses %o as %s', (limits, subject) => {
    expect(refusal(() => nodeServer(fetch, { limits })).subject).toBe(subject)
  })

  it('applies the limits to the node:http server', () => {
    const server = nodeServer(fetch, {
      limits: { maxHeaderBytes: 32_768, headersTimeoutMs: 700, requestTimeoutMs: 900, keepAliveTimeoutMs: 65_000 },
    })
    expect(server).toMatchObject({ maxHeaderSize: 32_768, headersTimeout: 700, requestTimeout: 900, keepAliveTimeout: 65_000 })
  })
})
