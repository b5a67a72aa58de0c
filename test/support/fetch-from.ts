// `fetch` from a chosen local address: on Linux every 127.x.y.z is the
// loopback, so one machine stands for many clients, each seen by the server as
// its own socket peer.
import { request } from 'node:http'

/** A `fetch` (plain http) whose connections leave from `localAddress`. */
export function fetchFrom(localAddress: string): typeof fetch {
  return async (input, init) => {
    const sent = new Request(input, init)
    const body = sent.body === null ? undefined : Buffer.from(await sent.arrayBuffer())
    const url = new URL(sent.url)
    return new Promise<Response>((resolve, reject) => {
      const outgoing = request(
        {
          host: url.hostname,
          port: url.port,
          path: `${url.pathname}${url.search}`,
          method: sent.method,
          headers: Object.fromEntries(sent.headers),
          localAddress,
        },
        (incoming) => {
          const chunks: Buffer[] = []
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
          incoming.on('error', reject)
          incoming.on('end', () => {
            const headers = new Headers()
            for (const [name, value] of Object.entries(incoming.headers)) {
              for (const one of Array.isArray(value) ? value : [value ?? '']) headers.append(name, one)
            }
            const status = incoming.statusCode ?? 0
            const empty = sent.method === 'HEAD' || [204, 205, 304].includes(status)
            resolve(new Response(empty ? null : Buffer.concat(chunks), { status, headers }))
          })
        },
      )
      outgoing.on('error', reject)
      outgoing.end(body)
    })
  }
}
