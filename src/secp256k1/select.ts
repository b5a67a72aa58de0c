import { runtimeCandidates } from '#secp256k1/runtime'
import { parseBackendName, type RecoveryBackend } from './backend.js'
import type { BackendCandidate } from './candidates.js'
import { BackendUnavailableError } from './errors.js'
import { nobleBackend } from './noble.js'

/** The chosen backend, and why each faster one was passed over (for the start log). */
export type BackendSelection = {
  readonly backend: RecoveryBackend
  readonly skipped: readonly BackendUnavailableError[]
}

/**
 * The backend for `preference` (a backend name; empty or undefined: automatic):
 * automatic takes the first of `accelerated` (fastest first) that loads, else
 * noble, which always loads, so it never throws. A named preference is
 * honoured or refused, never swapped: `UnknownBackendError` for a name that is
 * no backend, `BackendUnavailableError` for one this runtime cannot load.
 */
export function chooseBackend(accelerated: readonly BackendCandidate[], preference?: string): BackendSelection {
  if (preference) {
    const name = parseBackendName(preference)
    if (name === 'noble') return { backend: nobleBackend, skipped: [] }
    const candidate = accelerated.find((each) => each.name === name)
    if (candidate === undefined) throw new BackendUnavailableError(name, 'not built for this runtime')
    return { backend: candidate.load(), skipped: [] }
  }
  const skipped: BackendUnavailableError[] = []
  for (const candidate of accelerated) {
    try {
      return { backend: candidate.load(), skipped }
    } catch (error) {
      if (!(error instanceof BackendUnavailableError)) throw error
      skipped.push(error)
    }
  }
  return { backend: nobleBackend, skipped }
}

/** Loads each candidate at most once: a loaded backend is reused, a failed load is not retried. */
function once(candidate: BackendCandidate): BackendCandidate {
  let outcome: { backend: RecoveryBackend } | { error: unknown } | undefined
  return {
    name: candidate.name,
    load: () => {
      if (outcome === undefined) {
        try {
          outcome = { backend: candidate.load() }
        } catch (error) {
          outcome = { error }
        }
      }
      if ('error' in outcome) throw outcome.error
      return outcome.backend
    },
  }
}

const accelerated = runtimeCandidates.map(once)
const selections = new Map<string, BackendSelection>()

/**
 * The fastest secp256k1 backend of this runtime (Node: native, else wasm, else
 * noble; Workers: wasm, else noble), or the one `preference` names (e.g.
 * SECP256K1_BACKEND), chosen once and cached. Call it when the gateway starts
 * (on Workers, global scope is fine) and log `backend.name` and `skipped`.
 */
export function selectRecoveryBackend(preference?: string): BackendSelection {
  const key = preference ?? ''
  let selection = selections.get(key)
  if (selection === undefined) {
    selection = chooseBackend(accelerated, key)
    selections.set(key, selection)
  }
  return selection
}
