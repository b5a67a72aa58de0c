// Bodies made to exhaust the gateway before anyone pays: 50 MB posted unpaid
// (declared, chunked, or simply sent whole) is refused 413 quickly, without
// being read past the limit or held in memory; JSON nested thousands of levels
// deep is 400 mpp_request_quote_invalid, never a 500 or a challenge.
import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import {
  challengeFor,
  chatBody,
  completionsPath,
  credential,
  expectProblem,
  gateway,
  newPayer,
  openChannel,
  post,
  send,
  snapshot,
  upstream,
  voucher,
} from './support.js'
import { models } from './target.js'

const limit = 4 * 1024 * 1024 // maxBodyBytes' default
const huge = 50 * 1024 * 1024

/**
 * Writes `head` on a raw socket, then `body` chunk by chunk (as fast as the
 * socket drains) until the response's head arrives; resolves with the
 * response's raw text so far, how many body bytes were written by then, and
 * the milliseconds it took.
 */
function rawRequest(head: string, body: 'none' | 'chunked'): Promise<{ response: string; written: number; ms: number }> {
  const { port } = new URL(gateway.url)
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = connect(Number(port), '127.0.0.1')
    let response = ''
    let written = 0
    let answered = false
    socket.on('data', (chunk: Buffer) => {
      response += chunk.toString()
      const end = response.indexOf('\r\n\r\n')
      const length = Number(/^content-length: (\d+)$/im.exec(response)?.[1] ?? Number.NaN)
      if (!answered && end >= 0 && response.length >= end + 4 + length) {
        answered = true
        resolve({ response, written, ms: performance.now() - started })
        socket.destroy()
      }
    })
    socket.on('error', (error) => answered || reject(error))
    socket.on('connect', async () => {
      socket.write(head)
      if (body === 'none') return
      const chunk = Buffer.alloc(64 * 1024, 'a')
      const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])
      while (!answered && written < huge) {
        written += chunk.length
        if (!socket.write(frame)) await new Promise((drained) => socket.once('drain', drained).once('close', drained))
      }
      if (!answered) socket.end('0\r\n\r\n')
    })
  })
}

/** The status line, headers and JSON body of a raw HTTP/1.1 response. */
function parseRaw(raw: string): Response {
  const [head = '', body = ''] = raw.split('\r\n\r\n', 2)
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers = new Headers(lines.map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]))
  return new Response(body, { status: Number(statusLine.split(' ')[1]), headers })
}

describe('a 50 MB body before payment', () => {
  const completionsHead = (framing: string) =>
    `POST ${completionsPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${framing}\r\n\r\n`

  it('declared in Content-Length: 413 payload_too_large before a byte of it is sent', async () => {
    const { response, written, ms } = await rawRequest(completionsHead(`Content-Length: ${huge}`), 'none')
    expect(written).toBe(0)
    expect(ms).toBeLessThan(2_000)
    const problem = await expectProblem(parseRaw(response), 'payload_too_large')
    expect(problem.limit).toBe(limit)
  })

  it('chunked, without a length: 413 once the limit is passed, long before the end, nothing kept', async () => {
    const rss = gateway.rss()
    const { response, written, ms } = await rawRequest(completionsHead('Transfer-Encoding: chunked'), 'chunked')
    // Sockets buffer a few megabytes each way; the answer came at the limit, not at the end.
    expect(written).toBeGreaterThan(limit)
    expect(written).toBeLessThan(huge / 2)
    expect(ms).toBeLessThan(2_000)
    expect((await expectProblem(parseRaw(response), 'payload_too_large')).limit).toBe(limit)
    expect(gateway.rss() - rss).toBeLessThan(huge / 4)
  })

  it('sent whole by fetch: 413 within 2 s, and the gateway does not grow by the body', async () => {
    const rss = gateway.rss()
    const started = performance.now()
    const response = await gateway.fetch(completionsPath, { method: 'POST', body: new Uint8Array(huge).fill(0x61) })
    expect(performance.now() - started).toBeLessThan(2_000)
    await expectProblem(response, 'payload_too_large')
    expect(gateway.rss() - rss).toBeLessThan(huge / 4)
  })

  it('with a credential on it: the same 413, nothing charged or served', async () => {
    const channel = await openChannel(await newPayer(), 1_000_000n, 100_000n)
    const before = await snapshot(channel)
    const authorization = credential(await challengeFor(post(chatBody(models.fixed))), await voucher(channel, 200_000n))
    const response = await gateway.fetch(completionsPath, {
      method: 'POST',
      body: new Uint8Array(huge).fill(0x20),
      headers: { Authorization: authorization },
    })
    await expectProblem(response, 'payload_too_large')
    expect(await snapshot(channel)).toEqual(before)
  })
})

describe('JSON nested deeper than any chat request', () => {
  const nested = (depth: number, open: string, close: string, leaf = '1') => open.repeat(depth) + leaf + close.repeat(depth)

  it.each([
    ['5,000 arrays as the body', () => nested(5_000, '[', ']')],
    ['100,000 arrays as the body', () => nested(100_000, '[', ']')],
    [
      '5,000 objects in a message',
      () => `{"model":"${models.fixed}","messages":[{"role":"user","content":"hi","x":${nested(5_000, '{"a":', '}')}}]}`,
    ],
    [
      '5,000 arrays in an extra field',
      () => `{"model":"${models.fixed}","messages":[{"role":"user","content":"hi"}],"tools":${nested(5_000, '[', ']')}}`,
    ],
    ['an unclosed run of 1,000,000 brackets', () => '['.repeat(1_000_000)],
  ])('%s: 400 mpp_request_quote_invalid, no challenge, no upstream call', async (_, body) => {
    const calls = await upstream.calls()
    const response = await send(post(body()))
    const problem = await expectProblem(response, 'mpp_request_quote_invalid')
    expect(problem.detail).toMatch(/nests JSON deeper than 64 levels/)
    expect(await upstream.calls()).toBe(calls)
  })

  it('with a credential on it: the same 400, nothing charged', async () => {
    const channel = await openChannel(await newPayer(), 1_000_000n, 100_000n)
    const before = await snapshot(channel)
    const authorization = credential(await challengeFor(post(chatBody(models.fixed))), await voucher(channel, 200_000n))
    await expectProblem(await send(post(nested(5_000, '[', ']')), authorization), 'mpp_request_quote_invalid')
    expect(await snapshot(channel)).toEqual(before)
  })

  it('brackets inside a string are text: a prompt of 5,000 is priced and challenged as usual', async () => {
    const response = await send(post(chatBody(models.fixed, nested(5_000, '[', ']'))))
    expect(response.status).toBe(402)
    expect(((await response.json()) as { code: string }).code).toBe('payment_required')
  })
})
