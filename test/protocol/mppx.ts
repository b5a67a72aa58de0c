// The published mppx 0.11.0, installed apart in test/interop (`npm ci --prefix
// test/interop`): an implementation of the same drafts by their authors, used
// here as an oracle. Nothing of it is committed.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'interop', 'node_modules', 'mppx', 'dist')

/** Imports `dist/<path>` of mppx 0.11.0. */
export async function mppx<T>(path: string): Promise<T> {
  const file = join(dist, path)
  if (!existsSync(file)) throw new Error(`mppx is not installed in test/interop (${file} is missing): run npm ci --prefix test/interop`)
  return (await import(pathToFileURL(file).href)) as T
}
