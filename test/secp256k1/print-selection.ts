// Run by test/secp256k1/selection.test.ts in a child process, whose environment
// can hide the native addon: prints the automatic selection as JSON.
import { selectRecoveryBackend } from '../../src/secp256k1/select.js'

const { backend, skipped } = selectRecoveryBackend()
process.stdout.write(
  JSON.stringify({
    backend: backend.name,
    skipped: skipped.map((error) => ({
      backend: error.backend,
      cause: error.cause instanceof Error ? error.cause.message : String(error.cause),
    })),
  }),
)
