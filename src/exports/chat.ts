// `mpp-session-gateway/chat`: the paid OpenAI-compatible chat completions.
export { defaultCatalogue, type ModelPrice, parseCatalogue } from '../chat/catalogue.js'
export { type LocalBackendOptions, localBackend } from '../chat/local-backend.js'
export { type ChatQuote, chatCost, chatPricing } from '../chat/pricing.js'
export { type ChatRoutesOptions, chatRoutes } from '../chat/route.js'
export { countTokens, estimatePromptTokens } from '../chat/tokens.js'
export type { ChatCompletion, ChatCompletionRequest, ChatMessage, ChatUsage } from '../chat/types.js'
export { type ChatBackend, type CompleteOptions, type OpenAiUpstreamOptions, openAiUpstream, UpstreamError } from '../chat/upstream.js'
