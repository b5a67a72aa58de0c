// HTTP over a raw socket: what a client sends byte by byte (slow, malformed,
// oversized), and what a server answers before or instead of the app.
import { connect } from 'node:net'

export type RawExchange = {
  /** The answer as a `Response` (status, headers, body), for `expectProblem`. */
  response: Response
  /** The bytes received, as text. */
  raw: string
  /** Milliseconds from connecting to the server closing the connection. */
  ms: number
}

/**
 * Writes `parts` on a fresh connection to `to` (a URL, or a port on
 * 127.0.0.1), `pauseMs` apart, and
 * reads until the server closes it (a reset after the answer still counts).
 * `abortAfterMs`: the client closes the connection itself after that long.
 */
export function exchange(
  to: string | number,
  parts: (string | Buffer)[],
  options: { pauseMs?: number; abortAfterMs?: number } = {},
): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = connect(typeof to === 'number' ? to : Number(new URL(to).port), '127.0.0.1')
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
      const headers = new Headers(
        fields.map((field): [string, string] => [field.slice(0, field.indexOf(':')), field.slice(field.indexOf(':') + 1).trim()]),
      )
      const status = Number(statusLine.split(' ')[1])
      const response =
        Number.isInteger(status) && status >= 200 ? new Response(rest.join('\r\n\r\n'), { status, headers }) : Response.error()
      resolve({ response, raw, ms: performance.now() - started })
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
