/** A request the payment layer judges, as plain values: no web framework. */
export type PaidRequest = {
  /** The Fetch request; its body has already been read into `body`. */
  request: Request
  /** The request body's bytes (empty when it has none). */
  body: Uint8Array
  /** `METHOD /path`: what a challenge pays for (bound into it through `opaque`). */
  route: string
  /**
   * The client's address (its IP, as the server's front end knows it: the
   * socket's peer, or what a trusted proxy reports), for per-client limits.
   * Absent when unknown: then no per-client limit applies.
   */
  client?: string
}

/** The route a request's challenge pays for. */
export function routeOf(request: Request): string {
  const url = request.url
  // The path without the query: a challenge pays for a resource, not one spelling of its query string.
  const start = url.indexOf('/', url.indexOf('//') + 2)
  const end = url.indexOf('?', start)
  const path = start === -1 ? '/' : url.slice(start, end === -1 ? undefined : end)
  return `${request.method} ${path}`
}
