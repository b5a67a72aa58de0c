import type { ChallengeStore } from '../payment/challenge-store.js'
import type { CursorStore } from '../session/close-events.js'
import type { RateLimitStore } from '../session/rate-limit.js'
import type { ChannelStore } from '../session/store.js'

/**
 * What every store adapter here implements: the session engine's
 * `ChannelStore` and `RateLimitStore`, the close watcher's `CursorStore` and
 * the payment layer's `ChallengeStore`, in one place, so one database (or one
 * set of Durable Objects) serves them all.
 */
export type SessionStore = ChannelStore & RateLimitStore & CursorStore & ChallengeStore
