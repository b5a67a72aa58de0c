import { z } from 'zod'
import { parseConfig } from '../errors/config-error.js'
import { integer } from '../util/config.js'

/**
 * The request header an MPP-aware client sends to say it handles payment
 * events in a stream (`payment-need-voucher` mid-stream): `MPP-Stream: metered`.
 * Without it a stream is prepaid: its whole token limit is reserved up front,
 * so no payment event ever reaches a plain OpenAI client before `[DONE]`.
 */
export const streamModeHeader = 'MPP-Stream'
export const meteredStreamMode = 'metered'

export type StreamingOptions = {
  /** Completion tokens charged per window, before any of them is delivered. Default 64. */
  windowTokens?: number
  /** How long a metered stream waits after `payment-need-voucher` before it ends (ms). Default 60 000. */
  voucherTimeoutMs?: number
  /** How often a waiting stream reads its channel from the store for the voucher (ms). Default 200. */
  pollMs?: number
}

export type StreamingSettings = Required<StreamingOptions>

const optionsSchema = z.object({
  windowTokens: integer(1).optional(),
  voucherTimeoutMs: integer(1).optional(),
  pollMs: integer(1).optional(),
})

/** Streaming settings with their defaults; a bad option throws a `ConfigError`. */
export function streamingSettings(options: StreamingOptions = {}): StreamingSettings {
  parseConfig(optionsSchema, options, 'streaming')
  return { windowTokens: options.windowTokens ?? 64, voucherTimeoutMs: options.voucherTimeoutMs ?? 60_000, pollMs: options.pollMs ?? 200 }
}

/** How a stream is paid: `metered` window by window with vouchers mid-stream, or `prepaid` from a reservation of its whole limit. */
export type StreamMode = 'metered' | 'prepaid'

export const streamModeOf = (request: Request): StreamMode =>
  request.headers.get(streamModeHeader)?.trim().toLowerCase() === meteredStreamMode ? 'metered' : 'prepaid'
