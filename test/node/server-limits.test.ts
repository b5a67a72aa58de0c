// The Node server (src/node/server.ts) in this process, over raw sockets:
// what its limits bound and what it writes once a response has started. What
// it answers itself in the gateway process (a header section over the limit, a
// request it cannot parse, one too slow to arrive, a credential between 16 KiB
// and the header limit) is replayed against `src/node.ts` by the hostile suite
// (test/hostile/server.int.test.ts).
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { nodeServer } from '../../src/node/server.js'

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
