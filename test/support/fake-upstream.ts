// A fake OpenAI-compatible upstream in its own process, so the upstream client
// is tested over real sockets (refused, reset, stalled) without touching the
// test process's event loop. The steering protocol is documented at the top of
// fake-upstream-server.mjs: the `X-Fake-Upstream` header, else the `model`.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { killOnExit, stopper, waitForOutput } from '../harness/processes.js'

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
  /** How many completion requests arrived since start, whatever the resets. */
  totalCalls(): Promise<number>
  /** How many streams the gateway closed before their end, since start. */
  abandonedStreams(): Promise<number>
  lastRequest(): Promise<FakeUpstreamRequest | null>
  reset(): Promise<void>
  /** Kills the process by its PID and waits for it to exit. Safe to call twice. */
  stop(): Promise<void>
}

export async function startFakeUpstream(options: { startTimeoutMs?: number } = {}): Promise<FakeUpstream> {
  const startTimeoutMs = options.startTimeoutMs ?? 10_000
  const started = performance.now()
  // stdin stays a pipe: when this process dies without cleanup, the fake sees it close and exits.
  const child = killOnExit(spawn(process.execPath, [serverScript], { stdio: ['pipe', 'pipe', 'pipe'] }))
  const stop = stopper(child)
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  const listening = await waitForOutput(child, /^\{"port":(\d+)\}$/m, {
    what: 'the fake upstream',
    timeoutMs: startTimeoutMs,
    diagnostics: () => stderr,
  })
  const port = Number(listening[1])
  const startMs = performance.now() - started

  return { ...fakeUpstreamAt(`http://127.0.0.1:${port}`), pid: child.pid!, startMs, stop }
}

/** The control side of a fake upstream already running at `origin` (e.g. started by another process). */
export function fakeUpstreamAt(
  origin: string,
): Pick<FakeUpstream, 'baseUrl' | 'calls' | 'totalCalls' | 'abandonedStreams' | 'lastRequest' | 'reset'> {
  const control = async (method: 'GET' | 'POST', path: string): Promise<unknown> => {
    const response = await fetch(`${origin}${path}`, { method })
    if (!response.ok) throw new Error(`fake upstream ${method} ${path} answered ${response.status}`)
    return response.json()
  }

  return {
    baseUrl: `${origin}/v1`,
    async calls() {
      return ((await control('GET', '/__calls')) as { calls: number }).calls
    },
    async totalCalls() {
      return ((await control('GET', '/__calls')) as { total: number }).total
    },
    async abandonedStreams() {
      return ((await control('GET', '/__calls')) as { abandoned: number }).abandoned
    },
    async lastRequest() {
      return (await control('GET', '/__last')) as FakeUpstreamRequest | null
    },
    async reset() {
      await control('POST', '/__reset')
    },
  }
}
