// `mpp-session-gateway/client`: the payer's side of a Tempo session.
export { SessionClientError, type SessionClientErrorCode } from '../client/errors.js'
export { type ClientChannel, type SessionClient, type SessionClientOptions, sessionClient } from '../client/session-client.js'
