// `mpp-session-gateway/chat`: the paid OpenAI-compatible chat completions.

export type { ChatBackend, CompleteOptions } from '../chat/backend.js'
export { defaultCatalogue, type ModelPrice, parseCatalogue } from '../chat/catalogue.js'
export { type LocalBackendOptions, localBackend } from '../chat/local-backend.js'
export { type OpenAiUpstreamOptions, openAiUpstream } from '../chat/openai-upstream.js'
export { type ChatQuote, chatCost, chatPricing, servesCompletion } from '../chat/pricing.js'
export { type ChatRoutesOptions, chatRoutes } from '../chat/route.js'
export { promptTokens, type TextCounter, textCounter } from '../chat/tokens.js'
export type { ChatCompletion, ChatCompletionRequest, ChatMessage, ChatUsage } from '../chat/types.js'
export { UpstreamError, type UpstreamErrorCode } from '../chat/upstream-error.js'
