// The Node HTTP server in front of the gateway app: node:http with the limits
// a public gateway needs, and the error contract kept for what the server
// answers itself (answers.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { getRequestListener, RequestError } from '@hono/node-server'
import { z } from 'zod'
import { parseConfig } from '../errors/config-error.js'
import { PaymentError } from '../errors/payment-error.js'
import { resolveRequestId } from '../payment/request-id.js'
import { answerClientErrors, consoleServerLogger, type ServerLogger, sendProblem, serverProblem } from './answers.js'

export type ServerLimits = {
  /** The largest request header section (request line and fields), in bytes: Node's `maxHeaderSize`. */
  maxHeaderBytes: number
  /** Time for a request's header section to arrive, from its first byte. */
  headersTimeoutMs: number
  /** Time for a whole request (headers and body) to arrive. It does not bound the response. */
  requestTimeoutMs: number
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number
}

/**
 * 64 KiB of headers: the 16 KiB credential cap (`maxCredentialLength`) plus
 * room for the rest, so the app's rule answers an oversized credential, not
 * the parser. Headers come in one round trip from a live client: 20 s is
 * generous and bounds how long a trickling client holds a connection. 60 s
 * for a whole request reads the 4 MiB body limit at about 560 kbit/s; the
 * response (the upstream's inference) is not bounded by it. 5 s keep-alive is
 * Node's default; behind a proxy, set it above the proxy's idle timeout.
 */
export const defaultServerLimits: ServerLimits = {
  maxHeaderBytes: 64 * 1024,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
}

/** Largest accepted `maxHeaderBytes`: a connection's header buffer is held in memory while it arrives. */
export const maxHeaderBytesCeiling = 1024 * 1024
/** Largest accepted timeout: an hour. */
export const maxTimeoutMs = 3_600_000

const between = (min: number, max: number) =>
  z
    .number({ error: `must be an integer between ${min} and ${max}` })
    .refine((value) => Number.isSafeInteger(value) && value >= min && value <= max, `must be an integer between ${min} and ${max}`)

const limitsSchema = z
  .object({
    // Below Node's default, a credential the app accepts could not arrive.
    maxHeaderBytes: between(16 * 1024, maxHeaderBytesCeiling),
    headersTimeoutMs: between(1, maxTimeoutMs),
    requestTimeoutMs: between(1, maxTimeoutMs),
    keepAliveTimeoutMs: between(1, maxTimeoutMs),
  })
  .refine((limits) => limits.headersTimeoutMs <= limits.requestTimeoutMs, {
    path: ['headersTimeoutMs'],
    message: 'must be at most requestTimeoutMs',
  })

export type NodeServerOptions = {
  /** Each defaults to `defaultServerLimits`. */
  limits?: Partial<ServerLimits>
  /** Where the server's own answers are logged (default: one JSON line on the console). */
  log?: ServerLogger
  /** The host of a request URL when an HTTP/1.0 request names none. */
  defaultHostname?: string
}

/**
 * A node:http server serving `fetch` (the app; its `env` carries Node's
 * request, where the client address comes from) under `limits`. What never
 * reaches the app is answered in the envelope: a request Node cannot parse
 * (400 `bad_request`), a header section over `maxHeaderBytes` (431
 * `headers_too_large`), one whose headers or whole request do not arrive in
 * time (408 `request_timeout`), an HTTP/1.1 request without Host and one whose
 * URL cannot be formed (400 `bad_request`).
 */
export function nodeServer(fetch: Parameters<typeof getRequestListener>[0], options: NodeServerOptions = {}): Server {
  const limits = parseConfig(limitsSchema, { ...defaultServerLimits, ...options.limits }, 'nodeServer.limits')
  const log = options.log ?? consoleServerLogger
  const adapter = getRequestListener(fetch, {
    ...(options.defaultHostname === undefined ? {} : { hostname: options.defaultHostname }),
    // The adapter's own answer to a request it cannot form (a bad Host or target) would be a bare 400.
    errorHandler: (error) => {
      const failure =
        error instanceof RequestError
          ? new PaymentError('bad_request', 'The request target or Host is not valid.')
          : PaymentError.internal()
      const reason = error instanceof Error ? error.name : typeof error
      const { status, headers, body } = serverProblem(failure.code, failure.detail, { requestId: resolveRequestId(undefined), reason, log })
      return new Response(body, { status, headers })
    },
  })
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks both timeouts every 30 s by default: a 20 s limit could run to 50 s.
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
      // Answered below in the envelope; Node's own answer has no body.
      requireHostHeader: false,
    },
    (request: IncomingMessage, response: ServerResponse) => {
      // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
      if (request.httpVersion === '1.1' && request.headers.host === undefined) {
        const clientId = request.headers['x-request-id']
        const requestId = resolveRequestId(typeof clientId === 'string' ? clientId : undefined)
        sendProblem(
          response,
          serverProblem('bad_request', 'An HTTP/1.1 request must carry Host.', { requestId, reason: 'missing_host', log }),
        )
        return
      }
      void adapter(request, response)
    },
  )
  answerClientErrors(server, limits, log)
  return server
}
