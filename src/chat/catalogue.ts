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

const price = z.union([z.string().regex(/^\d+$/), z.int().min(0)]).transform((value) => BigInt(value))
const catalogueSchema = z
  .array(
    z.object({
      id: z.string().min(1),
      inputTokenPrice: price,
      outputTokenPrice: price,
      maxOutputTokens: z.int().min(1),
      // A misspelt encoding fails at boot rather than quietly falling back to the byte bound.
      encoding: z.enum(tokenEncodings).optional(),
    }),
  )
  .min(1)

/** Parses a catalogue from JSON (e.g. the `MODEL_CATALOGUE` variable); throws at boot on anything invalid. */
export function parseCatalogue(json: string): ModelPrice[] {
  return catalogueSchema.parse(JSON.parse(json))
}
