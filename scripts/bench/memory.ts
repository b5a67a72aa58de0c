// Row 7: runs memory-child.ts in a fresh Node process with --expose-gc, so the
// heap delta holds the store's channels and nothing of the bench around it.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { track } from './processes.js'

export type MemoryResult = { count: number; bytesPerChannel: number; heapDeltaBytes: number }

export function benchMemory(count = 100_000): Promise<MemoryResult> {
  const file = fileURLToPath(new URL('memory-child.ts', import.meta.url))
  const child = track(
    spawn(process.execPath, ['--expose-gc', '--import', 'tsx', file, String(count)], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`memory-child exited (${code}): ${stderr}`))
      resolve(JSON.parse(stdout.trim()) as MemoryResult)
    })
  })
}
