// A Worker that only recovers signers, bundled by test/secp256k1/workers-bundle.test.ts exactly as
// `wrangler deploy` bundles and run in workerd: POST {digest, signature} → {backend, skipped, address}.
import type { Hex } from 'viem'
import { recoverAddress, selectRecoveryBackend } from '../../../src/secp256k1/index.js'

// In the global scope, where a gateway would select its backend at start.
const { backend, skipped } = selectRecoveryBackend()

export default {
  async fetch(request: Request): Promise<Response> {
    const { digest, signature } = (await request.json()) as { digest: Hex; signature: Hex }
    return Response.json({
      backend: backend.name,
      skipped: skipped.map((error) => error.backend),
      address: recoverAddress(backend, digest, signature),
    })
  },
}
