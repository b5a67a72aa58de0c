// secp256k1 public-key recovery for vouchers: one interface, three backends (native, wasm, noble), chosen once per runtime.
export { type BackendName, backendNames, parseBackendName, type RecoveryBackend } from './backend.js'
export {
  BackendUnavailableError,
  InvalidSignatureError,
  type InvalidSignatureReason,
  UnknownBackendError,
  UnrecoverableSignatureError,
} from './errors.js'
export { recoverAddress } from './recover.js'
export { type BackendSelection, chooseBackend, selectRecoveryBackend } from './select.js'
export { type CanonicalSignature, checkSignature } from './signature.js'
