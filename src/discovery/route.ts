import { Hono } from 'hono'
import { resolveRequestId } from '../payment/request-id.js'
import { type OpenApiOptions, openApiDocument } from './openapi.js'

/**
 * `GET /openapi.json` (free): the discovery document, serialised once since
 * the configuration it is built from is fixed for the gateway's life. Cached
 * for the five minutes the discovery draft recommends; the 402 challenge, not
 * this document, is authoritative for a payment.
 */
export function openApiRoute(options: OpenApiOptions) {
  const body = JSON.stringify(openApiDocument(options))
  return new Hono().get('/openapi.json', (c) =>
    c.body(body, 200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'max-age=300',
      'X-Request-Id': resolveRequestId(c.req.header('X-Request-Id')),
    }),
  )
}
