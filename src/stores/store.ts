import type { ChallengeStore } from '../payment/challenge-store.js'
import type { ChannelStore } from '../session/store.js'

/**
 * What every store adapter here implements: the session engine's
 * `ChannelStore` and the payment layer's `ChallengeStore`, in one place, so one
 * database (or one set of Durable Objects) serves both.
 */
export type SessionStore = ChannelStore & ChallengeStore
