import type { BackendName, RecoveryBackend } from './backend.js'

/**
 * A backend faster than noble that a runtime can try: `load` builds it, or
 * throws `BackendUnavailableError` when its library does not load there.
 */
export type BackendCandidate = { readonly name: Exclude<BackendName, 'noble'>; readonly load: () => RecoveryBackend }
