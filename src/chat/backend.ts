import type { ChatCompletion, ChatCompletionRequest } from './types.js'

export type CompleteOptions = {
  /** Aborts the inference when the paying client goes away. */
  signal?: AbortSignal
}

/**
 * The port the paid chat route calls for inference. Non-streaming: it answers
 * one complete `ChatCompletion` whose `usage` is what gets charged. Failures
 * are thrown as {@link UpstreamError}; a failed inference is never charged.
 */
export type ChatBackend = {
  complete(request: ChatCompletionRequest, options?: CompleteOptions): Promise<ChatCompletion>
}
