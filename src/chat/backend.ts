import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from './types.js'

export type CompleteOptions = {
  /** Aborts the inference when the paying client goes away. */
  signal?: AbortSignal
}

/**
 * The port the paid chat route calls for inference. `complete` answers one
 * complete `ChatCompletion` whose `usage` is what gets charged. `stream` (a
 * backend without it cannot serve `stream: true`) yields the chunks of a
 * streamed completion as they come, ending with a chunk that carries `usage`
 * when the backend knows it. Failures are thrown as {@link UpstreamError}:
 * before the first chunk nothing is charged.
 */
export type ChatBackend = {
  complete(request: ChatCompletionRequest, options?: CompleteOptions): Promise<ChatCompletion>
  stream?(request: ChatCompletionRequest, options?: CompleteOptions): AsyncIterable<ChatCompletionChunk>
}
