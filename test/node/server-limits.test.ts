// The Node server (src/node/server.ts) in this process, over raw sockets:
// what its limits bound and what it writes once a response has started. What
// it answers itself in the gateway process (a header section over the limit, a
// request it cannot parse, one too slow to arrive, a credential between 16 KiB
// and the header limit) is replayed against `src/node.ts` by the hostile suite
// (test/hostile/server.int.test.ts).
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { nodeServer } from '../../src/node/server.js'
import { exchange } from '../support/raw-exchange.js'

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
      expect(response.response.status).toBe(200)
      expect(await response.response.text()).toBe('done')
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
      expect(response.response.status).toBe(200)
      expect(response.raw).toContain('first chunk')
      expect(response.raw).not.toContain('HTTP/1.1 400')
    })
    expect(logged).toEqual([])
  })
})
