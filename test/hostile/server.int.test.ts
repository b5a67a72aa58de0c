// Headers and requests made to get past, or stall, the Node server in front of
// the app (src/node/server.ts, src/node/answers.ts): a credential between the
// app's 16 KiB rule and the server's 64 KiB header limit, a header section
// beyond that limit, a request line that is not HTTP, a request without Host,
// headers or a body that stop arriving. Whatever the server answers itself is
// the envelope with an X-Request-Id and one log line, never a bare status line
// or an internal error, and nothing on the channel, the chain or the upstream
// moves. The stalls go to the second instance (`other`), whose server gives a
// request seconds to arrive instead of the default's minute.
import { beforeAll, describe, expect, it } from 'vitest'
import { base64url } from '../../src/protocol/base64url.js'
import {
  type Channel,
  challengeFor,
  chatBody,
  completionsPath,
  credential,
  exchange,
  expectProblem,
  gateway,
  newPayer,
  openChannel,
  other,
  post,
  type RawExchange,
  send,
  snapshot,
  voucher,
} from './support.js'
import { models, otherTimeouts } from './target.js'

const body = chatBody(models.fixed, 'Are my headers too large?')
const maxHeaderBytes = 64 * 1024 // the server's default
const maxCredentialLength = 16 * 1024 // the app's rule

let channel: Channel
beforeAll(async () => {
  channel = await openChannel(await newPayer(), 1_000_000n, 100_000n)
})

/** A paid request's raw head on the completions route: `fields` (already `Name: value`) after Host. */
const rawHead = (fields: string[]) =>
  [
    `POST ${completionsPath} HTTP/1.1`,
    'Host: gateway.test',
    ...fields,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    '',
  ].join('\r\n')

/** The server's own answer: whole (its Content-Length), and the connection closed after it. */
function expectClosing({ response, raw }: RawExchange) {
  expect(response.headers.get('Connection')).toBe('close')
  expect(Buffer.byteLength(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toBe(Number(response.headers.get('Content-Length')))
}

/** A valid credential for a new voucher (200,000) on `channel`, which would be accepted if it reached the rule intact. */
async function newVoucherCredential() {
  return credential(await challengeFor(post(body)), await voucher(channel, 200_000n))
}

describe('a credential between the app’s 16 KiB rule and the server’s 64 KiB header limit', () => {
  it('reaches the app, whose credential rule refuses it: 402 mpp_malformed_credential with a fresh challenge; nothing moves', async () => {
    const before = await snapshot(channel)
    // A genuine voucher for a new amount, padded to about 27 KiB of base64url: judged by its size, never by its voucher.
    const genuine = JSON.parse(base64url.decodeText((await newVoucherCredential()).slice('Payment '.length))) as object
    const padded = `Payment ${base64url.encode(JSON.stringify({ ...genuine, padding: 'p'.repeat(20 * 1024) }))}`
    expect(padded.length).toBeGreaterThan(maxCredentialLength)
    expect(padded.length).toBeLessThan(maxHeaderBytes / 2)
    const problem = await expectProblem(await send(post(body), padded), 'mpp_malformed_credential')
    expect(problem.detail).toMatch(new RegExp(`larger than ${maxCredentialLength}`))
    expect(await snapshot(channel)).toEqual(before)
  })
})

describe('a header section beyond the server’s limit', () => {
  it('60 KiB of headers is served', async () => {
    const { response } = await exchange(gateway.url, [
      `GET /health HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\nX-Padding: ${'p'.repeat(60 * 1024)}\r\n\r\n`,
    ])
    expect(response.status).toBe(200)
    expect(response.headers.get('X-Request-Id')).toMatch(/^req_[A-Za-z0-9_-]{22}$/)
  })

  it('100 KiB around a valid credential: 431 headers_too_large in the envelope, logged; nothing moves', async () => {
    const before = await snapshot(channel)
    const head = rawHead([`Authorization: ${await newVoucherCredential()}`, `X-Padding: ${'p'.repeat(100 * 1024)}`])
    const answer = await exchange(gateway.url, [head, body])
    expectClosing(answer)
    const problem = await expectProblem(answer.response, 'headers_too_large')
    expect(problem.detail).toBe(`The request's header section is larger than ${maxHeaderBytes} bytes.`)
    await expect
      .poll(() => gateway.logs())
      .toContainEqual({ requestId: problem.requestId, status: 431, code: 'headers_too_large', reason: 'HPE_HEADER_OVERFLOW' })
    expect(await snapshot(channel)).toEqual(before)
  })
})

describe('requests that are not HTTP/1.1', () => {
  it('a malformed request line: 400 bad_request in the envelope, logged with the parser’s reason', async () => {
    const answer = await exchange(gateway.url, ['GARBAGE\r\n\r\n'])
    expectClosing(answer)
    const problem = await expectProblem(answer.response, 'bad_request')
    expect(problem.requestId).toMatch(/^req_[A-Za-z0-9_-]{22}$/)
    await expect
      .poll(() => gateway.logs())
      .toContainEqual({ requestId: problem.requestId, status: 400, code: 'bad_request', reason: 'HPE_INVALID_METHOD' })
  })

  it('an HTTP/1.1 request without Host, and one with an invalid Host: 400 bad_request in the envelope', async () => {
    const missing = await exchange(gateway.url, ['GET /health HTTP/1.1\r\nX-Request-Id: no-host-1\r\n\r\n'])
    expectClosing(missing)
    expect((await expectProblem(missing.response, 'bad_request')).requestId).toBe('no-host-1')
    await expect
      .poll(() => gateway.logs())
      .toContainEqual({ requestId: 'no-host-1', status: 400, code: 'bad_request', reason: 'missing_host' })

    const invalid = await exchange(gateway.url, ['GET /health HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n'])
    expectClosing(invalid)
    await expectProblem(invalid.response, 'bad_request')
  })

  it('a credential on a malformed request is never judged: 400, nothing moves', async () => {
    const before = await snapshot(channel)
    const head = rawHead([`Authorization: ${await newVoucherCredential()}`]).replace('HTTP/1.1', 'HTTP/9.9')
    await expectProblem((await exchange(gateway.url, [head, body])).response, 'bad_request')
    expect(await snapshot(channel)).toEqual(before)
  })
})

describe('requests that stop arriving (the second instance: headers within 1 s, the whole request within 2 s)', () => {
  const { headersTimeoutMs, requestTimeoutMs } = otherTimeouts
  // Node checks its timeouts every second (min(1 s, the headers timeout)): the answer comes at most that much later.
  const slack = 1_000 + 1_500

  it('headers that stop arriving: 408 request_timeout once the headers timeout passes, logged', async () => {
    const answer = await exchange(other.url, ['GET /health HTTP/1.1\r\nHost: gateway.test\r\n'])
    expectClosing(answer)
    const { response, ms } = answer
    const problem = await expectProblem(response, 'request_timeout')
    expect(ms).toBeGreaterThanOrEqual(headersTimeoutMs)
    expect(ms).toBeLessThan(headersTimeoutMs + slack)
    await expect
      .poll(() => other.logs())
      .toContainEqual({
        requestId: problem.requestId,
        status: 408,
        code: 'request_timeout',
        reason: 'ERR_HTTP_REQUEST_TIMEOUT',
      })
  })

  it('a paid request whose body stalls after the headers: 408 within REQUEST_TIMEOUT_MS, logged as request_timeout, never internal; nothing moves', async () => {
    const before = await snapshot(channel)
    const head = rawHead([`Authorization: ${await newVoucherCredential()}`, 'X-Request-Id: stalled-body-1'])
    const answer = await exchange(other.url, [head, body.slice(0, 10)], { pauseMs: 100 })
    expectClosing(answer)
    const { response, ms } = answer
    // The request in flight named its id: the answer and the app's log line carry it.
    expect((await expectProblem(response, 'request_timeout')).requestId).toBe('stalled-body-1')
    expect(ms).toBeGreaterThanOrEqual(requestTimeoutMs)
    expect(ms).toBeLessThan(requestTimeoutMs + slack)
    await expect.poll(() => other.logs().filter((line) => line.requestId === 'stalled-body-1'), { timeout: 5_000 }).toHaveLength(2)
    const [server, app] = other.logs().filter((line) => line.requestId === 'stalled-body-1')
    expect(server).toEqual({ requestId: 'stalled-body-1', status: 408, code: 'request_timeout', reason: 'ERR_HTTP_REQUEST_TIMEOUT' })
    // The app's line: the expected end of a read, without the "unexpected error" field.
    expect(app).toMatchObject({ route: `POST ${completionsPath}`, status: 408, code: 'request_timeout' })
    expect(app).not.toHaveProperty('error')
    expect(other.logs().filter((line) => line.code === 'mpp_internal_error')).toEqual([])
    expect(await snapshot(channel)).toEqual(before)
  })

  it('a client that leaves mid-body is logged as request_timeout, never internal; nothing moves', async () => {
    const before = await snapshot(channel)
    const head = rawHead([`Authorization: ${await newVoucherCredential()}`, 'X-Request-Id: left-mid-body-1'])
    await exchange(gateway.url, [head, body.slice(0, 10)], { pauseMs: 100, abortAfterMs: 200 })
    await expect.poll(() => gateway.logs().filter((line) => line.requestId === 'left-mid-body-1'), { timeout: 5_000 }).toHaveLength(1)
    const [line] = gateway.logs().filter((entry) => entry.requestId === 'left-mid-body-1')
    expect(line).toMatchObject({ route: `POST ${completionsPath}`, code: 'request_timeout' })
    expect(line).not.toHaveProperty('error')
    expect(await snapshot(channel)).toEqual(before)
  })
})
