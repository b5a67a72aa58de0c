import { WireError } from './wire-error.js'

// A lone surrogate cannot be encoded as UTF-8 (I-JSON, RFC 7493 §2.1).
// `isWellFormed` (ES2024) where the runtime has it: every challenge serialises
// a dozen strings, and it is several times faster than a Unicode regex.
const loneSurrogate = /\p{Cs}/u
const isWellFormed: (value: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
    ? (value) => (value as string & { isWellFormed(): boolean }).isWellFormed()
    : (value) => !loneSurrogate.test(value)

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
      if (!isWellFormed(value)) throw new WireError('canonical-json', 'string contains a lone surrogate')
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new WireError('canonical-json', 'number is not finite')
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value)) {
        let out = '['
        for (let i = 0; i < value.length; i++) {
          if (value[i] === undefined) throw new WireError('canonical-json', 'array contains undefined')
          out += (i === 0 ? '' : ',') + canonicalJson(value[i])
        }
        return `${out}]`
      }
      const prototype = Object.getPrototypeOf(value)
      if (prototype !== Object.prototype && prototype !== null) {
        throw new WireError('canonical-json', 'only plain objects can be serialised')
      }
      let out = '{'
      // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks for.
      for (const key of Object.keys(value).sort()) {
        const member = (value as Record<string, unknown>)[key]
        if (member === undefined) continue
        out += (out.length === 1 ? '' : ',') + canonicalJson(key) + ':' + canonicalJson(member)
      }
      return `${out}}`
    }
    default:
      throw new WireError('canonical-json', `a ${typeof value} has no JSON form`)
  }
}

/**
 * Whether `canonicalJson` accepts `value` (it would not throw). For such a value
 * the JCS text is a function of the `JSON.stringify` text, so that text can key
 * a cache of encodings.
 */
export function isCanonicalizable(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
      return isWellFormed(value)
    case 'number':
      return Number.isFinite(value)
    case 'boolean':
      return true
    case 'object': {
      if (value === null) return true
      if (Array.isArray(value)) {
        // An index loop, not `every`: a hole is undefined here as in canonicalJson.
        for (let i = 0; i < value.length; i++) if (value[i] === undefined || !isCanonicalizable(value[i])) return false
        return true
      }
      const prototype = Object.getPrototypeOf(value)
      if (prototype !== Object.prototype && prototype !== null) return false
      for (const key of Object.keys(value)) {
        const member = (value as Record<string, unknown>)[key]
        if (!isWellFormed(key) || (member !== undefined && !isCanonicalizable(member))) return false
      }
      return true
    }
    default:
      return false
  }
}
