import type { z } from 'zod'

/**
 * A configuration value that cannot work, found at start (never on the first
 * request). `subject` names the option or environment variable and `rule` the
 * requirement it breaks; the value itself is never part of the error, so a
 * misconfigured secret cannot leak through a log line.
 */
export class ConfigError extends Error {
  override name = 'ConfigError'
  readonly subject: string
  readonly rule: string

  constructor(subject: string, rule: string) {
    super(`${subject}: ${rule}`)
    this.subject = subject
    this.rule = rule
  }
}

/**
 * Validates `input` with `schema`, or throws a `ConfigError` for the first
 * issue. `subject` names what is validated (`tempoSession`, `environment`);
 * the issue's path is appended (`tempoSession.bucketSize`), or replaces it when
 * `pathIsSubject` (environment variables are named by themselves).
 */
export function parseConfig<T extends z.ZodType>(schema: T, input: unknown, subject: string, pathIsSubject = false): z.output<T> {
  const result = schema.safeParse(input)
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  const path = issue.path.map(String).join('.')
  const name = pathIsSubject && path ? path : path ? `${subject}.${path}` : subject
  throw new ConfigError(name, issue.message)
}
