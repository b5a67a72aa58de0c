// Runs a script of the nested package test/interop (the published mppx 0.11
// and its viem 2.55) as a child process: the main tests cannot import mppx.
// The script takes one JSON argument and prints its result as the last line.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { repoRoot } from './processes.js'

const tsx = `${repoRoot}/node_modules/.bin/tsx`

/** Runs `test/interop/clients/<name>` with `input`; resolves with its last stdout line parsed, rejects on a non-zero exit. */
export function runMppxScript<T>(name: string, input: unknown): Promise<T> {
  const script = fileURLToPath(new URL(`../interop/clients/${name}`, import.meta.url))
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [script, JSON.stringify(input)], { cwd: `${repoRoot}/test/interop`, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('exit', (code) => {
      const line = stdout.trim().split('\n').at(-1)
      if (code !== 0 || line === undefined) reject(new Error(`${name} exited ${code}: ${stderr.slice(-2000)}`))
      else resolve(JSON.parse(line) as T)
    })
  })
}
