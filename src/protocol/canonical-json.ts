import { WireError } from './wire-error.js'

// A lone surrogate cannot be encoded as UTF-8 (I-JSON, RFC 7493 §2.1).
const loneSurrogate = /\p{Cs}/u

/**
 * RFC 8785 JSON Canonicalization Scheme: object keys sorted by UTF-16 code units,
 * no whitespace, ECMAScript number and string serialisation (which is what
 * `JSON.stringify` does for a single primitive). Object members whose value is
 * `undefined` are omitted, as in `JSON.stringify`; anything else that JSON cannot
 * represent exactly (non-finite numbers, bigints, lone surrogates, functions,
 * class instances) throws a `WireError`.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      if (loneSurrogate.test(value)) throw new WireError('canonical-json', 'string contains a lone surrogate')
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new WireError('canonical-json', 'number is not finite')
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value)) {
        return `[${value.map((item) => {
          if (item === undefined) throw new WireError('canonical-json', 'array contains undefined')
          return canonicalJson(item)
        }).join(',')}]`
      }
      const prototype = Object.getPrototypeOf(value)
      if (prototype !== Object.prototype && prototype !== null) {
        throw new WireError('canonical-json', 'only plain objects can be serialised')
      }
      const members: string[] = []
      // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks for.
      for (const key of Object.keys(value).sort()) {
        const member = (value as Record<string, unknown>)[key]
        if (member === undefined) continue
        members.push(`${canonicalJson(key)}:${canonicalJson(member)}`)
      }
      return `{${members.join(',')}}`
    }
    default:
      throw new WireError('canonical-json', `a ${typeof value} has no JSON form`)
  }
}
