// Runs in vitest's main process before the hostile suite's files, and only
// when one of them runs: one target (anvil, the fake upstream, PostgreSQL, the
// gateway process and a second instance beside it) for all of them, reached
// through `inject('hostile')`.
import type { TestProject } from 'vitest/node'
import { type HostileTarget, startTarget } from './target.js'

declare module 'vitest' {
  export interface ProvidedContext {
    hostile: HostileTarget
  }
}

export default async function setup(project: TestProject) {
  const { target, stop } = await startTarget()
  project.provide('hostile', target)
  return stop
}
