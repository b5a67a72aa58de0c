// The rules configuration values share (session, escrow, stores, chat, the
// environment), as zod schemas with messages that state the rule and never
// quote the value.
import type { Address } from 'viem'
import { z } from 'zod'

/** A 20-byte hex address, any case (EIP-55 checksums are not required); normalised to lowercase. */
export const address = z
  .string({ error: 'must be a 0x-prefixed 20-byte hex address' })
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
  .transform((value) => value.toLowerCase() as Address)

/** A whole number of milliseconds, seconds or items, at least `min`. */
export const integer = (min: number) =>
  z
    .number({ error: `must be an integer ≥ ${min}` })
    .refine((value) => Number.isSafeInteger(value) && value >= min, `must be an integer ≥ ${min}`)

/** An amount in base units (bigint), at least `min`. */
export const amount = (min: bigint) =>
  z.bigint({ error: `must be an amount in base units (bigint) ≥ ${min}` }).refine((value) => value >= min, `must be ≥ ${min}`)

/** A function (ports and hooks cannot be described further by a schema). */
export const callable = <T>() => z.custom<T>((value) => typeof value === 'function', 'must be a function')

/** An object implementing a port: checked for the methods the caller relies on. */
export const implementing = <T>(methods: readonly string[]) =>
  z.custom<T>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      methods.every((method) => typeof (value as Record<string, unknown>)[method] === 'function'),
    `must implement ${methods.join(', ')}`,
  )

/** An http(s) URL. */
export const httpUrl = z
  .string({ error: 'must be an http(s) URL' })
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), 'must be an http(s) URL')
