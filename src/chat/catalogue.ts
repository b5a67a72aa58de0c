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

const price = z.union([z.string().regex(/^\d+$/), z.int().min(0)]).transform((value) => BigInt(value))
const catalogueSchema = z
  .array(z.object({ id: z.string().min(1), inputTokenPrice: price, outputTokenPrice: price, maxOutputTokens: z.int().min(1) }))
  .min(1)

/** Parses a catalogue from JSON (e.g. the `MODEL_CATALOGUE` variable); throws at boot on anything invalid. */
export function parseCatalogue(json: string): ModelPrice[] {
  return catalogueSchema.parse(JSON.parse(json))
}
