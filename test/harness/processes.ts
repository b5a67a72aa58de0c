// Child processes of the tests and scripts (anvil, the fake upstream, gateway
// processes): started, awaited until they announce themselves, and never left
// running when this process exits.
import type { ChildProcess } from 'node:child_process'

const running = new Set<ChildProcess>()
let exitHookInstalled = false

/** Registers `child` to be killed if this process exits while it still runs. */
export function killOnExit<T extends ChildProcess>(child: T): T {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      for (const survivor of running) survivor.kill('SIGKILL')
    })
  }
  running.add(child)
  child.once('exit', () => running.delete(child))
  return child
}

/**
 * Resolves with the first match of `pattern` in `child`'s stdout. Rejects, and
 * kills the child, if it exits, fails to start or prints no match within
 * `timeoutMs`; `diagnostics()` (e.g. its stderr tail) goes into the error.
 * Stdout keeps draining afterwards, so a full pipe never blocks the child.
 */
export function waitForOutput(
  child: ChildProcess,
  pattern: RegExp,
  options: { what: string; timeoutMs: number; diagnostics?: () => string },
): Promise<RegExpExecArray> {
  const diagnostics = () => (options.diagnostics ? `\n${options.diagnostics()}` : '')
  return new Promise((resolve, reject) => {
    let buffered = ''
    const timer = setTimeout(
      () => fail(new Error(`${options.what} printed nothing matching ${pattern} within ${options.timeoutMs} ms${diagnostics()}`)),
      options.timeoutMs,
    )
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString()
      const match = pattern.exec(buffered)
      if (match) {
        cleanup()
        resolve(match)
      }
    }
    const onExit = (code: number | null) => fail(new Error(`${options.what} exited (code ${code}) before it was ready${diagnostics()}`))
    const onError = (error: Error) => fail(error)
    function cleanup() {
      clearTimeout(timer)
      child.stdout!.off('data', onData)
      child.off('exit', onExit)
      child.off('error', onError)
      child.stdout!.resume()
    }
    function fail(error: Error) {
      cleanup()
      child.kill('SIGKILL')
      reject(error)
    }
    child.stdout!.on('data', onData)
    child.once('exit', onExit)
    child.once('error', onError)
  })
}

/** A stop function for `child`: SIGTERM, SIGKILL after 2 s, resolves once it exited. Safe to call twice. */
export function stopper(child: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
  let stopping: Promise<void> | undefined
  return () => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000)
      await exited
      clearTimeout(timer)
    })()
    return stopping
  }
}
