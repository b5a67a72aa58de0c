// A fake OpenAI-compatible upstream in its own process, so the upstream client
// is tested over real sockets (refused, reset, stalled) without touching the
// test process's event loop. The steering protocol is documented at the top of
// fake-upstream-server.mjs: the `X-Fake-Upstream` header, else the `model`.
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const serverScript = fileURLToPath(new URL('./fake-upstream-server.mjs', import.meta.url))

/** The last completion request the fake received. */
export type FakeUpstreamRequest = {
  path: string
  authorization: string | null
  directive: string
  body: Record<string, unknown>
}

export type FakeUpstream = {
  /** `http://127.0.0.1:<port>/v1`: pass it as an OpenAI base URL. */
  baseUrl: string
  pid: number
  /** Milliseconds from spawn to listening. */
  startMs: number
  /** How many completion requests arrived since start or the last reset. */
  calls(): Promise<number>
  lastRequest(): Promise<FakeUpstreamRequest | null>
  reset(): Promise<void>
  /** Kills the process by its PID and waits for it to exit. Safe to call twice. */
  stop(): Promise<void>
}

/** Processes started here and not yet stopped; killed if the test process exits first. */
const running = new Set<ChildProcess>()
let exitHookInstalled = false
function installExitHook() {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL')
  })
}

export async function startFakeUpstream(options: { startTimeoutMs?: number } = {}): Promise<FakeUpstream> {
  const startTimeoutMs = options.startTimeoutMs ?? 10_000
  const started = performance.now()
  // stdin stays a pipe: when this process dies without cleanup, the fake sees it close and exits.
  const child = spawn(process.execPath, [serverScript], { stdio: ['pipe', 'pipe', 'pipe'] })
  running.add(child)
  installExitHook()
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  void exited.then(() => running.delete(child))

  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })

  const port = await new Promise<number>((resolve, reject) => {
    let buffered = ''
    const timer = setTimeout(() => fail(new Error(`fake upstream did not listen within ${startTimeoutMs} ms\n${stderr}`)), startTimeoutMs)
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString()
      const line = /^\{"port":(\d+)\}$/m.exec(buffered)
      if (line) {
        cleanup()
        resolve(Number(line[1]))
      }
    }
    const onExit = (code: number | null) => fail(new Error(`fake upstream exited (code ${code}) before listening\n${stderr}`))
    const onError = (error: Error) => fail(error)
    function cleanup() {
      clearTimeout(timer)
      child.stdout!.off('data', onData)
      child.off('exit', onExit)
      child.off('error', onError)
      child.stdout!.resume() // keep draining
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
  const startMs = performance.now() - started

  const origin = `http://127.0.0.1:${port}`
  const control = async (method: 'GET' | 'POST', path: string): Promise<unknown> => {
    const response = await fetch(`${origin}${path}`, { method })
    if (!response.ok) throw new Error(`fake upstream ${method} ${path} answered ${response.status}`)
    return response.json()
  }

  let stopping: Promise<void> | undefined
  return {
    baseUrl: `${origin}/v1`,
    pid: child.pid!,
    startMs,
    async calls() {
      return ((await control('GET', '/__calls')) as { calls: number }).calls
    },
    async lastRequest() {
      return (await control('GET', '/__last')) as FakeUpstreamRequest | null
    },
    async reset() {
      await control('POST', '/__reset')
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 2_000)
        await exited
        clearTimeout(timer)
      })()
      return stopping
    },
  }
}
