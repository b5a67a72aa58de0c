import { WireError } from './wire-error.js'

/** One challenge of a `WWW-Authenticate` field value (RFC 9110 §11.6.1). */
export type AuthChallenge = {
  /** The auth-scheme as sent (schemes compare case-insensitively). */
  scheme: string
  /** auth-params, names lowercased (they compare case-insensitively). */
  params: Map<string, string>
  /** The token68 form some schemes use instead of auth-params. */
  token68?: string
}

const tchar = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/
const token68char = /[A-Za-z0-9\-._~+/]/
// quoted-string content: HTAB, SP, VCHAR except `"` and `\`, obs-text.
const qdtext = /[\t \x21\x23-\x5B\x5D-\x7E\x80-\xFF]/
// What may follow a backslash in a quoted-pair.
const quotedPairChar = /[\t \x21-\x7E\x80-\xFF]/

/**
 * Parses a `WWW-Authenticate` field value: a comma-separated list of challenges,
 * each `scheme [ 1*SP ( token68 / #auth-param ) ]`, with empty list elements
 * allowed (RFC 9110 §5.6.1). Several header lines joined with `, ` parse the same.
 * Throws a `WireError` on anything outside the grammar, including a parameter
 * named twice in one challenge.
 */
export function parseAuthChallenges(input: string): AuthChallenge[] {
  const s = input
  let i = 0
  const fail = (why: string): never => {
    throw new WireError('challenge', `${why} at offset ${i}`)
  }
  const skipWhitespace = () => {
    while (s[i] === ' ' || s[i] === '\t') i++
  }
  const readWhile = (pattern: RegExp) => {
    const start = i
    while (i < s.length && pattern.test(s[i]!)) i++
    return s.slice(start, i)
  }
  const readQuoted = () => {
    i++ // opening quote
    let value = ''
    while (i < s.length) {
      const char = s[i]!
      if (char === '"') {
        i++
        return value
      }
      if (char === '\\') {
        const escaped = s[i + 1]
        if (escaped === undefined || !quotedPairChar.test(escaped)) fail('invalid quoted-pair')
        value += escaped
        i += 2
        continue
      }
      if (!qdtext.test(char)) fail('invalid character in quoted-string')
      value += char
      i++
    }
    return fail('unterminated quoted-string')
  }
  // Tries `token BWS "=" BWS ( token / quoted-string )`; rewinds and returns
  // undefined when the input there is not an auth-param.
  const readParam = (): [string, string] | undefined => {
    const start = i
    const name = readWhile(tchar)
    skipWhitespace()
    if (!name || s[i] !== '=') {
      i = start
      return undefined
    }
    i++
    skipWhitespace()
    if (s[i] === '"') return [name.toLowerCase(), readQuoted()]
    const value = readWhile(tchar)
    if (!value) {
      i = start
      return undefined
    }
    return [name.toLowerCase(), value]
  }
  const atElementEnd = () => {
    const start = i
    skipWhitespace()
    const end = i >= s.length || s[i] === ','
    i = start
    return end
  }

  const challenges: AuthChallenge[] = []
  let current: AuthChallenge | undefined
  while (true) {
    // List separators; empty elements are allowed.
    while (s[i] === ',' || s[i] === ' ' || s[i] === '\t') i++
    if (i >= s.length) break

    if (current) {
      const param = readParam()
      if (param) {
        if (current.token68 !== undefined) fail('auth-param after token68')
        const [name, value] = param
        if (current.params.has(name)) fail(`parameter "${name}" repeated`)
        current.params.set(name, value)
        if (!atElementEnd()) fail('expected "," after auth-param')
        continue
      }
    }

    const scheme = readWhile(tchar)
    if (!scheme) fail('expected an auth-scheme')
    current = { scheme, params: new Map() }
    challenges.push(current)
    if (atElementEnd()) continue
    if (s[i] !== ' ') fail('expected a space after the auth-scheme')
    skipWhitespace()
    const param = readParam()
    if (param) {
      current.params.set(param[0], param[1])
    } else {
      const token68 = readWhile(token68char) + readWhile(/=/)
      if (!token68) fail('expected token68 or auth-param')
      current.token68 = token68
    }
    if (!atElementEnd()) fail('expected "," or end of field')
  }
  return challenges
}

// Characters a quoted-string can carry, restricted to visible ASCII, space and
// HTAB: anything else (CR, LF, NUL, non-ASCII) must never reach a header.
const quotable = /^[\t\x20-\x7E]*$/

// The same without `"` and `\`: such a value is carried as it is (every base64url one).
const quotableAsIs = /^[\t\x20\x21\x23-\x5B\x5D-\x7E]*$/

/** Formats `name="value"` with quoted-pair escaping; rejects unsafe characters. */
export function formatAuthParam(name: string, value: string): string {
  if (quotableAsIs.test(value)) return `${name}="${value}"`
  if (!quotable.test(value)) throw new WireError('challenge', `parameter "${name}" contains characters a header cannot carry`)
  return `${name}="${value.replace(/["\\]/g, '\\$&')}"`
}
