// Server-Sent Events (WHATWG HTML §9.2) as paid streams use them (session spec: payment events in an SSE
// response): writing events, and reading a stream's. Only `event` and `data` matter here;
// comments, `id` and `retry` are skipped.

/** One event: its name (absent for the default `message`) and its data. */
export type ServerSentEvent = { event?: string; data: string }

/** The wire form of one event. `data` holds no line breaks (one JSON text or `[DONE]`). */
export function formatEvent(data: string, event?: string): string {
  return event === undefined ? `data: ${data}\n\n` : `event: ${event}\ndata: ${data}\n\n`
}

/** Reads the events of an `text/event-stream` body as they arrive. */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder()
  let buffer = ''
  let event: string | undefined
  let data: string[] = []
  const reader = body.getReader()
  try {
    for (;;) {
      const { value, done } = await reader.read()
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true })
      let end = lineEnd(buffer)
      while (end !== -1) {
        const line = buffer.slice(0, end)
        buffer = buffer.slice(buffer[end] === '\r' && buffer[end + 1] === '\n' ? end + 2 : end + 1)
        if (line === '') {
          if (data.length > 0) yield event === undefined ? { data: data.join('\n') } : { event, data: data.join('\n') }
          event = undefined
          data = []
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':')
          const field = colon === -1 ? line : line.slice(0, colon)
          const value = colon === -1 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1))
          if (field === 'data') data.push(value)
          else if (field === 'event') event = value
        }
        end = lineEnd(buffer)
      }
      if (done) return
    }
  } finally {
    reader.releaseLock()
  }
}

// A line ends at CR, LF or CRLF; a CR at the end of the buffer may be the first half of a CRLF still to come.
function lineEnd(buffer: string): number {
  const lf = buffer.indexOf('\n')
  const cr = buffer.indexOf('\r')
  if (cr === -1 || (lf !== -1 && lf < cr)) return lf
  return cr + 1 < buffer.length ? cr : -1
}
