// TypeScript scripts under test/support run as their own Node processes through
// tsx's loader (`node --import tsx`, what `npx tsx` does, minus npx's start-up),
// so the PID held here is the script's own and a SIGKILL hits exactly it.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { killOnExit, stopper, waitForOutput } from '../harness/processes.js'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Runs `script` to completion; resolves with its stdout, rejects with its stderr when it fails. */
export function runTsx(
  script: string,
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(stdout)
      else reject(new Error(`${script} exited with ${signal ?? code}:\n${stderr}`))
    })
  })
}

export type ServerProcess = {
  url: string
  pid: number
  /** Milliseconds from spawn to the port line. */
  startMs: number
  /** Resolves when the process has exited, with its exit code or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** The tail of its stderr. */
  stderr(): string
  /** The tail of its stdout. */
  stdout(): string
  /** SIGTERM, then SIGKILL after 2 s; waits for the exit. Safe to call twice. */
  stop(): Promise<void>
}

/**
 * Starts a long-running script that prints `{"port":N}` once listening on
 * 127.0.0.1. Its stdin stays a pipe from this process: if this process dies
 * without cleaning up, the script sees stdin close and exits.
 */
export async function startTsxServer(
  script: string,
  env: Record<string, string>,
  options: { startTimeoutMs?: number } = {},
): Promise<ServerProcess> {
  const started = performance.now()
  const child = killOnExit(
    spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  )
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)))
  let stdout = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-64_000)))
  const listening = await waitForOutput(child, /^\{"port":(\d+)\}$/m, {
    what: script,
    timeoutMs: options.startTimeoutMs ?? 30_000,
    diagnostics: () => stderr,
  })
  const port = Number(listening[1])
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    startMs: performance.now() - started,
    exited,
    stderr: () => stderr,
    stdout: () => stdout,
    stop: stopper(child),
  }
}
