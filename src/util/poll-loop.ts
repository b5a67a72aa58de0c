/** A job run every `intervalMs` (pause between the end of one step and the start of the next) until stopped. */
export type PollLoop = {
  /** Starts the loop; a second call while it runs does nothing. */
  start(): void
  /** Stops the loop; resolves once a step in flight has finished. */
  stop(): Promise<void>
}

/** Runs `step` in a loop; its errors go to `onError` and the loop goes on. */
export function pollLoop(step: () => Promise<unknown>, intervalMs: number, onError: (error: unknown) => void): PollLoop {
  let loop: Promise<void> | undefined
  let stopped = false
  let wake: (() => void) | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  return {
    start() {
      if (loop !== undefined) return
      stopped = false
      loop = (async () => {
        while (!stopped) {
          await step().catch(onError)
          if (stopped) break
          await new Promise<void>((resolve) => {
            wake = resolve
            timer = setTimeout(resolve, intervalMs)
          })
        }
      })()
    },
    async stop() {
      stopped = true
      clearTimeout(timer)
      wake?.()
      await loop
      loop = undefined
    },
  }
}

/** `work`, shared by callers that arrive while it runs: one run at a time, joined rather than queued. */
export function joined<T>(work: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined
  return () => {
    running ??= work().finally(() => {
      running = undefined
    })
    return running
  }
}
