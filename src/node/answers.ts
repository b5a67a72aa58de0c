// What the Node HTTP server answers itself, before or instead of the app: a
// request Node's parser refuses (malformed, header section too large), one too
// slow to arrive, one without Host, or one the adapter cannot turn into a
// Fetch `Request`. Node's own answers are a bare status line; these keep the
// error contract: the envelope, a fresh `X-Request-Id`, one log line.
import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { type ErrorCode, errorCodes } from '../errors/codes.js'
import { type ProblemParts, problemParts } from '../errors/problem.js'
import { resolveRequestId } from '../payment/request-id.js'
import type { ServerLimits } from './server.js'

/** One line per request the server answered itself. `reason`: Node's error code, the adapter's error class or `missing_host`; never a header value. */
export type ServerLogEntry = { requestId: string; status: number; code: ErrorCode; reason: string }

export type ServerLogger = (entry: ServerLogEntry) => void

export const consoleServerLogger: ServerLogger = (entry) => {
  console.log(JSON.stringify(entry))
}

/** The envelope for `code`, logged as answered for `reason`. */
export function serverProblem(
  code: ErrorCode,
  detail: string,
  answer: { requestId: string; reason: string; log: ServerLogger },
): ProblemParts {
  const parts = problemParts({ code, spec: errorCodes[code], detail }, { requestId: answer.requestId })
  answer.log({ requestId: answer.requestId, status: parts.status, code, reason: answer.reason })
  return parts
}

/** Answers `response` with `parts` and closes the connection after it. */
export function sendProblem(response: ServerResponse, parts: ProblemParts): void {
  const length = String(Buffer.byteLength(parts.body))
  response.writeHead(parts.status, { ...parts.headers, 'Content-Length': length, Connection: 'close' }).end(parts.body)
}

/** `parts` as the bytes of an HTTP/1.1 response that closes the connection. */
function rawResponse(parts: ProblemParts): Buffer {
  const headers = {
    ...parts.headers,
    'Content-Length': String(Buffer.byteLength(parts.body)),
    Date: new Date().toUTCString(),
    Connection: 'close',
  }
  const head = [
    `HTTP/1.1 ${parts.status} ${STATUS_CODES[parts.status]}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ]
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${parts.body}`)
}

/** The code and detail for a `clientError` Node raises; `undefined` when the client left (nothing to answer). */
function clientProblem(nodeCode: string, limits: ServerLimits): { code: ErrorCode; detail: string } | undefined {
  const { maxHeaderBytes, headersTimeoutMs, requestTimeoutMs } = limits
  switch (nodeCode) {
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'headers_too_large', detail: `The request's header section is larger than ${maxHeaderBytes} bytes.` }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        code: 'request_timeout',
        detail: `The request did not arrive in time (headers within ${headersTimeoutMs} ms, the whole request within ${requestTimeoutMs} ms). Send it again.`,
      }
    // The client closed its side mid-request: it left.
    case 'HPE_INVALID_EOF_STATE':
      return undefined
  }
  // Any other refusal of the HTTP parser (llhttp's `HPE_*`) is not valid HTTP; anything else, the socket failing (a reset).
  return nodeCode.startsWith('HPE_') ? { code: 'bad_request', detail: 'The request is not valid HTTP/1.1.' } : undefined
}

/**
 * Answers Node's `clientError`s in the envelope, written on the socket, which
 * then closes. Only while nothing else can be on the wire: the socket is
 * writable and no response on it has started; otherwise, and for socket
 * failures (a reset), the socket is closed without an answer.
 */
export function answerClientErrors(server: Server, limits: ServerLimits, log: ServerLogger): void {
  // The responses the app has not finished, per connection: a started one must not be followed by other bytes.
  const unfinished = new WeakMap<Socket, Set<ServerResponse>>()
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const responses = unfinished.get(request.socket) ?? new Set()
    unfinished.set(request.socket, responses.add(response))
    response.once('close', () => responses.delete(response))
  })
  // The parser raises again on every later chunk; the first answer stands.
  const answered = new WeakSet<Socket>()
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (answered.has(socket)) return
    answered.add(socket)
    const responses = [...(unfinished.get(socket) ?? [])]
    const problem = clientProblem(error.code ?? '', limits)
    if (problem === undefined || !socket.writable || responses.some((response) => response.headersSent)) {
      socket.destroy()
      return
    }
    // The request in flight, if its headers arrived, may name its id (as it would to the app).
    const clientId = responses[0]?.req.headers['x-request-id']
    const requestId = resolveRequestId(typeof clientId === 'string' ? clientId : undefined)
    // As Node's own answer: written (a few hundred bytes go to the kernel at once), then closed, so nothing more is
    // parsed, and a client that does not read cannot hold the socket open.
    socket.write(rawResponse(serverProblem(problem.code, problem.detail, { requestId, reason: error.code ?? error.name, log })))
    socket.destroy()
  })
}
