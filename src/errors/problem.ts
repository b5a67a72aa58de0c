import { type ErrorSpec, problemTypeBase } from './codes.js'
import type { ProblemError, ProblemExtensions } from './payment-error.js'

export type Problem = {
  code: string
  spec: ErrorSpec
  detail: string
  extensions?: ProblemExtensions
  retryAfter?: number | undefined
}

export type ProblemContext = {
  requestId: string
  /** A fresh challenge: its `WWW-Authenticate` value and id. */
  challenge?: { header: string; id: string } | undefined
}

const wire = (value: string | number | boolean | bigint) => (typeof value === 'bigint' ? value.toString() : value)

/** A rendered envelope as plain values, for writers without a Fetch `Response` (a raw socket). */
export type ProblemParts = { status: number; headers: Record<string, string>; body: string }

/**
 * Renders the error envelope of `docs/errors.md`: RFC 9457 Problem
 * Details and an OpenAI-style `error` object in one `application/problem+json`
 * body, with `X-Request-Id`, `Retry-After` and the fresh challenge as headers.
 */
export function problemParts(problem: Problem, context: ProblemContext): ProblemParts {
  const { code, spec, detail } = problem
  const body: Record<string, unknown> = {
    type: problemTypeBase + spec.type,
    title: spec.title,
    status: spec.status,
    detail,
    code,
    retryable: spec.retryable,
    requestId: context.requestId,
    ...(context.challenge ? { challengeId: context.challenge.id } : {}),
  }
  // Extensions add members; they never replace the envelope's own.
  if (problem.extensions !== undefined) {
    for (const [key, value] of Object.entries(problem.extensions)) {
      if (!(key in body)) body[key] = wire(value)
    }
  }
  body.error = {
    message: detail,
    type: spec.errorType,
    code,
    param: null,
    retryable: spec.retryable,
    request_id: context.requestId,
  }
  // A plain record: a `Headers` instance would be validated once here and again when the Response copies it.
  const headers: Record<string, string> = {
    'Content-Type': 'application/problem+json',
    'Cache-Control': 'no-store',
    'X-Request-Id': context.requestId,
  }
  if (context.challenge) headers['WWW-Authenticate'] = context.challenge.header
  if (problem.retryAfter !== undefined) headers['Retry-After'] = String(problem.retryAfter)
  return { status: spec.status, headers, body: JSON.stringify(body) }
}

/** The envelope (`problemParts`) as a Fetch `Response`. */
export function problemResponse(problem: Problem, context: ProblemContext): Response {
  const { status, headers, body } = problemParts(problem, context)
  return new Response(body, { status, headers })
}

/** `problemResponse` for a thrown `ProblemError`. */
export function errorResponse(error: ProblemError, context: ProblemContext): Response {
  const { code, spec, detail, extensions, retryAfter } = error
  return problemResponse({ code, spec, detail, extensions, retryAfter }, context)
}
