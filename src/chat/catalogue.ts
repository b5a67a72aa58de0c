import { z } from 'zod'

/** One model the paid route serves, with its prices in base units per token. */
export type ModelPrice = {
  id: string
  inputTokenPrice: bigint
  outputTokenPrice: bigint
  /** Largest completion a request may ask for; also the default when it asks for none. */
  maxOutputTokens: number
}

/** The offline default: the built-in local backend's model, at 10 and 20 base units (0.00001 and 0.00002 tokens) per input and output token. */
export const defaultCatalogue: readonly ModelPrice[] = [
  { id: 'local-echo', inputTokenPrice: 10n, outputTokenPrice: 20n, maxOutputTokens: 256 },
]

const price = z.bigint({ error: 'must be a price in base units per token (bigint)' }).refine((value) => value >= 0n, 'must be ≥ 0')
/** A model as code gives it (prices as bigint). */
export const modelPriceSchema = z.object({
  id: z.string({ error: 'must be a model id' }).min(1, 'must be a model id'),
  inputTokenPrice: price,
  outputTokenPrice: price,
  maxOutputTokens: z.int({ error: 'must be a positive integer' }).min(1, 'must be a positive integer'),
})

// JSON carries prices as decimal strings or integers.
const jsonPrice = z.union([z.string().regex(/^\d+$/, 'must be a decimal integer'), z.int().min(0)]).transform((value) => BigInt(value))
const jsonCatalogue = z
  .array(modelPriceSchema.extend({ inputTokenPrice: jsonPrice, outputTokenPrice: jsonPrice }), { error: 'must be a JSON list of models' })
  .min(1, 'must list at least one model')

/** Parses a catalogue from JSON (the `MODEL_CATALOGUE` variable); throws on anything invalid. */
export function parseCatalogue(json: string): ModelPrice[] {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    value = undefined
  }
  return jsonCatalogue.parse(value)
}
