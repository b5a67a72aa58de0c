import { z } from 'zod'

/** The upstream tokenizers the route can count prompts with exactly (OpenAI's names). */
export const tokenEncodings = ['o200k_base', 'cl100k_base'] as const
export type TokenEncoding = (typeof tokenEncodings)[number]

/** One model the paid route serves, with its prices in base units per token. */
export type ModelPrice = {
  id: string
  inputTokenPrice: bigint
  outputTokenPrice: bigint
  /** Largest completion a request may ask for; also the default when it asks for none. */
  maxOutputTokens: number
  /**
   * The tokenizer the upstream bills this model's prompts with (`o200k_base`
   * for GPT-4o and later, `cl100k_base` for GPT-4 and GPT-3.5). Without it
   * prompts are quoted by their UTF-8 bytes, a bound that holds for any
   * byte-level BPE tokenizer but is several times the real count.
   */
  encoding?: TokenEncoding | undefined
}

/**
 * The offline default: the built-in local backend's model, at 10 and 20 base
 * units (0.00001 and 0.00002 tokens) per input and output token, counted like
 * GPT-4o.
 */
export const defaultCatalogue: readonly ModelPrice[] = [
  { id: 'local-echo', inputTokenPrice: 10n, outputTokenPrice: 20n, maxOutputTokens: 256, encoding: 'o200k_base' },
]

const price = z.bigint({ error: 'must be a price in base units per token (bigint)' }).refine((value) => value >= 0n, 'must be ≥ 0')
/** A model as code gives it (prices as bigint). */
export const modelPriceSchema = z.object({
  id: z.string({ error: 'must be a model id' }).min(1, 'must be a model id'),
  inputTokenPrice: price,
  outputTokenPrice: price,
  maxOutputTokens: z.int({ error: 'must be a positive integer' }).min(1, 'must be a positive integer'),
  // A misspelt encoding fails at boot rather than quietly falling back to the byte bound.
  encoding: z.enum(tokenEncodings, { error: `must be one of ${tokenEncodings.join(', ')}` }).optional(),
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
