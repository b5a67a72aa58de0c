// The Node gateway keeps the error contract at the HTTP layer: what Node's
// server answers before (or instead of) the app — a header section over the
// limit, a request it cannot parse, one too slow to arrive — is the envelope
// with an X-Request-Id, and a credential between Node's old 16 KiB header
// limit and the server's limit reaches the app's own credential rule. The
// gateway runs as its own process, configured from the environment like
// src/node.ts, with short timeouts; malformed input goes over raw sockets.
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { nodeServer } from '../../src/node/server.js'
import { type ServerProcess, startTsxServer } from '../support/processes.js'

const gatewayScript = fileURLToPath(new URL('../support/node-gateway-process.ts', import.meta.url))
const headersTimeoutMs = 1_000
const requestTimeoutMs = 2_000
const freshRequestId = /^req_[A-Za-z0-9_-]{22}$/
const completions = '/v1/mpp/chat/completions'
const chatBody = JSON.stringify({ model: 'local-echo', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })

let gateway: ServerProcess
let port: number

beforeAll(async () => {
  gateway = await startTsxServer(gatewayScript, {
    MPP_SECRET_KEY: 'server-limits-test-secret-of-32-bytes',
    // Nothing here reaches the chain: no credential is ever verified.
    RPC_URL: 'http://127.0.0.1:9',
    CHAIN_ID: '31337',
    ESCROW_ADDRESS: '0x5FbDB2315678afecb367f032d93f642f64180aa3',
    PAYEE_ADDRESS: '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
    HEADERS_TIMEOUT_MS: String(headersTimeoutMs),
    REQUEST_TIMEOUT_MS: String(requestTimeoutMs),
  })
  port = Number(new URL(gateway.url).port)
})
afterAll(async () => {
  await gateway?.stop()
})

type RawResponse = { status: number; headers: Record<string, string>; body: string; raw: string; ms: number }

/**
 * Writes `parts` on a fresh connection to `to`, `pauseMs` apart, and reads
 * until the server closes it (a reset after the answer still counts).
 * `abortAfterMs`: the client closes the connection itself after that long.
 */
function exchange(to: number, parts: (string | Buffer)[], options: { pauseMs?: number; abortAfterMs?: number } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = connect(to, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`the server did not close the connection; received: ${Buffer.concat(chunks).toString().slice(0, 200)}`))
    }, 10_000)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      const raw = Buffer.concat(chunks).toString()
      const [head = '', ...rest] = raw.split('\r\n\r\n')
      const [statusLine = '', ...fields] = head.split('\r\n')
      const headers = Object.fromEntries(
        fields.map((field) => [field.slice(0, field.indexOf(':')).toLowerCase(), field.slice(field.indexOf(':') + 1).trim()]),
      )
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n'), raw, ms: performance.now() - started })
    })
    socket.once('connect', async () => {
      for (const [index, part] of parts.entries()) {
        if (index > 0) await new Promise((wait) => setTimeout(wait, options.pauseMs ?? 0))
        socket.write(part)
      }
      if (options.abortAfterMs !== undefined) setTimeout(() => socket.destroy(), options.abortAfterMs)
    })
  })
}

/** The JSON lines the gateway has logged. */
function logLines(): Record<string, unknown>[] {
  return gateway
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{') && line.endsWith('}'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

/** Asserts `response` is the envelope of `code` with `status`, its id fresh (or `requestId`), and returns the body. */
function expectEnvelope(response: RawResponse, status: number, code: string, requestId: string | RegExp = freshRequestId) {
  expect(response.status).toBe(status)
  expect(response.headers['content-type']).toBe('application/problem+json')
  expect(response.headers.connection).toBe('close')
  expect(response.headers['x-request-id']).toMatch(requestId)
  const body = JSON.parse(response.body) as Record<string, unknown>
  expect(Buffer.byteLength(response.body)).toBe(Number(response.headers['content-length']))
  expect(body).toMatchObject({ status, code, requestId: response.headers['x-request-id'], error: { code } })
  return body
}

describe('the Node gateway under its header limit', () => {
  it('lets a 20 KiB credential reach the app, whose credential rule answers with a fresh challenge', async () => {
    const response = await fetch(`${gateway.url}${completions}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Payment ${'A'.repeat(20 * 1024)}` },
      body: chatBody,
    })
    expect(response.status).toBe(402)
    expect(response.headers.get('Content-Type')).toBe('application/problem+json')
    expect(response.headers.get('WWW-Authenticate')).toMatch(/^Payment id="[^"]+", realm="localhost", method="tempo", intent="session"/)
    expect(response.headers.get('X-Request-Id')).toMatch(freshRequestId)
    const body = (await response.json()) as Record<string, unknown>
    expect(body).toMatchObject({ code: 'mpp_malformed_credential', requestId: response.headers.get('X-Request-Id') })
    expect(body.detail).toMatch(/larger than 16384/)
  })

  it('serves a 60 KiB header section, and answers one of 100 KiB with the 431 envelope', async () => {
    const request = (padding: number) =>
      `GET /health HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\nX-Padding: ${'p'.repeat(padding)}\r\n\r\n`
    const under = await exchange(port, [request(60 * 1024)])
    expect(under.status).toBe(200)

    const over = await exchange(port, [request(100 * 1024)])
    const body = expectEnvelope(over, 431, 'headers_too_large')
    expect(body).toMatchObject({ type: 'https://paymentauth.org/problems/request-header-fields-too-large', retryable: false })
    expect(body.detail).toBe("The request's header section is larger than 65536 bytes.")
    expect(logLines()).toContainEqual({ requestId: body.requestId, status: 431, code: 'headers_too_large', reason: 'HPE_HEADER_OVERFLOW' })
  })
})

describe('what the Node server answers itself', () => {
  it('answers a malformed request line with the 400 envelope', async () => {
    const response = await exchange(port, ['GARBAGE\r\n\r\n'])
    const body = expectEnvelope(response, 400, 'bad_request')
    expect(body.type).toBe('https://paymentauth.org/problems/bad-request')
    expect(logLines()).toContainEqual({ requestId: body.requestId, status: 400, code: 'bad_request', reason: 'HPE_INVALID_METHOD' })
  })

  it('answers an HTTP/1.1 request without Host, and one with an invalid Host, with the 400 envelope', async () => {
    const missing = await exchange(port, ['GET /health HTTP/1.1\r\nX-Request-Id: no-host-1\r\n\r\n'])
    expectEnvelope(missing, 400, 'bad_request', 'no-host-1')
    expect(logLines()).toContainEqual({ requestId: 'no-host-1', status: 400, code: 'bad_request', reason: 'missing_host' })

    const invalid = await exchange(port, ['GET /health HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n'])
    expect(invalid.status).toBe(400)
    expect(invalid.headers['content-type']).toBe('application/problem+json')
    expect(JSON.parse(invalid.body)).toMatchObject({ code: 'bad_request', requestId: invalid.headers['x-request-id'] })
  })

  it('answers headers that stop arriving with the 408 envelope once the headers timeout passes', async () => {
    const response = await exchange(port, ['GET /health HTTP/1.1\r\nHost: gateway.test\r\n'])
    const body = expectEnvelope(response, 408, 'request_timeout')
    expect(body).toMatchObject({ type: 'https://paymentauth.org/problems/request-timeout', retryable: true })
    expect(response.ms).toBeGreaterThanOrEqual(headersTimeoutMs)
    expect(logLines()).toContainEqual({
      requestId: body.requestId,
      status: 408,
      code: 'request_timeout',
      reason: 'ERR_HTTP_REQUEST_TIMEOUT',
    })
  })

  it('answers a paid-route body that stops arriving with the 408 envelope, logged as request_timeout, never internal', async () => {
    const head = `POST ${completions} HTTP/1.1\r\nHost: gateway.test\r\nX-Request-Id: stalled-body-1\r\nContent-Type: application/json\r\nContent-Length: ${chatBody.length}\r\n\r\n`
    const response = await exchange(port, [head, chatBody.slice(0, 10)], { pauseMs: 100 })
    // The request in flight named its id: the answer and the app's log line carry it.
    expectEnvelope(response, 408, 'request_timeout', 'stalled-body-1')
    expect(response.ms).toBeGreaterThanOrEqual(requestTimeoutMs)
    await vi.waitFor(() => expect(logLines().filter((line) => line.requestId === 'stalled-body-1')).toHaveLength(2))
    const [server, app] = logLines().filter((line) => line.requestId === 'stalled-body-1')
    expect(server).toEqual({ requestId: 'stalled-body-1', status: 408, code: 'request_timeout', reason: 'ERR_HTTP_REQUEST_TIMEOUT' })
    // The app's line: the expected end of a read, without the "unexpected error" field.
    expect(app).toMatchObject({ route: `POST ${completions}`, status: 408, code: 'request_timeout' })
    expect(app).not.toHaveProperty('error')
    expect(logLines().filter((line) => line.code === 'mpp_internal_error')).toEqual([])
  })

  it('logs a client that leaves mid-body as request_timeout, never internal', async () => {
    const head = `POST ${completions} HTTP/1.1\r\nHost: gateway.test\r\nX-Request-Id: left-mid-body-1\r\nContent-Type: application/json\r\nContent-Length: ${chatBody.length}\r\n\r\n`
    await exchange(port, [head, chatBody.slice(0, 10)], { pauseMs: 100, abortAfterMs: 200 })
    await vi.waitFor(() => expect(logLines().some((line) => line.requestId === 'left-mid-body-1')).toBe(true))
    const lines = logLines().filter((line) => line.requestId === 'left-mid-body-1')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ route: `POST ${completions}`, code: 'request_timeout' })
    expect(lines[0]).not.toHaveProperty('error')
  })
})

describe('the Node server, in this process', () => {
  /** `fetch` served by `nodeServer` with short timeouts; runs `test` against its port, then closes it. */
  async function withServer(fetch: (request: Request) => Response | Promise<Response>, test: (port: number) => Promise<void>) {
    const logged: unknown[] = []
    const server = nodeServer(fetch, { limits: { headersTimeoutMs: 300, requestTimeoutMs: 300 }, log: (entry) => logged.push(entry) })
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening))
    try {
      await test((server.address() as AddressInfo).port)
    } finally {
      server.closeAllConnections()
      await new Promise((closed) => server.close(closed))
    }
    return logged
  }

  it('bounds receiving the request, not the response: a slow answer outlives the request timeout', async () => {
    const slow = async () => {
      await new Promise((wait) => setTimeout(wait, 900))
      return new Response('done')
    }
    await withServer(slow, async (to) => {
      const response = await exchange(to, ['GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'])
      expect(response.status).toBe(200)
      expect(response.body).toBe('done')
      expect(response.ms).toBeGreaterThanOrEqual(900)
    })
  })

  it('writes nothing after a response that has started: a bad pipelined request only closes the connection', async () => {
    // The first response sends its head and one chunk, then holds.
    const streaming = () =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('first chunk'))
          },
        }),
      )
    const logged = await withServer(streaming, async (to) => {
      const response = await exchange(to, ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'GARBAGE\r\n\r\n'], { pauseMs: 200 })
      expect(response.status).toBe(200)
      expect(response.raw).toContain('first chunk')
      expect(response.raw).not.toContain('HTTP/1.1 400')
    })
    expect(logged).toEqual([])
  })
})
