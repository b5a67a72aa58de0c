import { base64url } from '../protocol/base64url.js'
import { randomBytes } from '../protocol/random.js'

// A client's id is echoed into headers and logs, so only short, inert tokens.
const safeRequestId = /^[A-Za-z0-9._:-]{1,64}$/

/** The client's `X-Request-Id` when it is a short safe token, else a fresh `req_…` id. */
export function resolveRequestId(clientValue: string | undefined): string {
  if (clientValue !== undefined && safeRequestId.test(clientValue)) return clientValue
  return `req_${base64url.encode(randomBytes(16))}`
}
