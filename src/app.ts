import { Hono } from 'hono'
import { bearerAuth } from 'hono/bearer-auth'
import type { Address } from 'viem'
import type { ChatBackend } from './chat/backend.js'
import { defaultCatalogue, type ModelPrice } from './chat/catalogue.js'
import { chatPricing, servesCompletion } from './chat/pricing.js'
import { chatRoutes } from './chat/route.js'
import { type StreamingOptions, streamingSettings } from './chat/streaming.js'
import { openApiRoute } from './discovery/route.js'
import { health } from './health.js'
import { contentType } from './metrics/exposition.js'
import { type GatewayMetrics, gatewayMetrics } from './metrics/gateway-metrics.js'
import type { ClientAddress } from './middleware/client-address.js'
import { paymentErrorHandler } from './middleware/error-handler.js'
import { notFound } from './middleware/method-not-allowed.js'
import { payment } from './middleware/payment.js'
import { requestId } from './middleware/request-id.js'
import type { SecretKey } from './payment/handler.js'
import { consoleLogger, type PaymentLogEntry, type PaymentLogger } from './payment/logger.js'
import { type CloseWatcher, type CloseWatcherOptions, closeWatcher, logWatchError } from './session/close-watch.js'
import { type TempoSession, tempoSession } from './session/engine.js'
import type { Escrow } from './session/escrow.js'
import type { TempoSessionOptions } from './session/options.js'
import { logBackgroundError } from './session/options.js'
import type { ChannelLister } from './session/store.js'
import {
  type ChannelSweeper,
  channelSweeper,
  type JobLock,
  logSweepError,
  type SettlementSweeper,
  type SettlementSweeperOptions,
  settlementSweeper,
} from './session/sweeper.js'
import type { SessionStore } from './stores/store.js'

export type GatewayConfig = {
  realm: string
  secretKey: SecretKey | readonly SecretKey[]
  escrow: Escrow
  /** Channel accounting, idempotency records and used challenge ids: one store shared by every instance. */
  store: SessionStore
  /** The payee address channels must pay. */
  recipient: Address
  /** The TIP-20 token channels must hold. */
  currency: Address
  /** Where completions come from: an OpenAI-compatible upstream, or the offline local backend. */
  backend: ChatBackend
  /**
   * Streamed completions (`stream: true`, README: Streaming): windows, the voucher wait; `false` switches them off
   * (`mpp_streaming_unavailable`). Default: on when the backend streams.
   */
  streaming?: StreamingOptions | false
  /** Models served and their prices. Default: the local backend's model. */
  catalogue?: readonly ModelPrice[]
  /**
   * The close watcher (README: Operating a payee): the escrow's close events (`viemEscrow` implements them) and
   * its settings; its cursor is kept in `store`. Absent: no watcher. The entry runs it (`start()`, or a step per cron).
   */
  closeWatch?: Omit<CloseWatcherOptions, 'session' | 'cursors'>
  /**
   * The settlement sweeper's settings (README: Operating a payee); its limits are the engine's (`session`).
   * A store that lists its channels and holds a job lock (memory, PostgreSQL, PGlite) gets the job over all channels
   * (`sweeper`); any other (Durable Objects) the per-channel form its objects run (`channelSweeper`). Absent: neither.
   */
  sweep?: Omit<SettlementSweeperOptions, 'session' | 'store'>
  /** Session engine settings (buckets, reservation lifetime, settlement, containment, …). */
  session?: Partial<Omit<TempoSessionOptions, 'escrow' | 'store' | 'recipient' | 'currency'>>
  /** Where a request comes from, for the per-client limit on opens: the entry's own (`socketAddress` on Node, `cloudflareAddress` on Workers). */
  clientAddress?: ClientAddress
  /** The largest request body the paid route reads (bytes); larger is 413 `payload_too_large`. Default 4 MiB. */
  maxBodyBytes?: number
  logger?: PaymentLogger
  /**
   * Bearer token of `GET /metrics` (Prometheus text format; README: Operating a payee); at least 32 bytes of
   * token68 characters (RFC 6750). Absent: no `/metrics` route.
   */
  metricsToken?: string
}

/** The gateway as one Hono app, the same on Node and on Workers, with its engine and (when configured) close watcher and sweeper. */
export function createGateway(config: GatewayConfig): {
  app: Hono
  session: TempoSession
  watcher: CloseWatcher | undefined
  sweeper: SettlementSweeper | undefined
  channelSweeper: ChannelSweeper | undefined
} {
  const catalogue = config.catalogue ?? defaultCatalogue
  // Background jobs' errors are counted in the metrics (when served) and still logged where they were.
  let metrics: GatewayMetrics | undefined
  const counted = (job: string, log: (error: unknown) => void) => (error: unknown) => {
    metrics?.recordJobError(job, error)
    log(error)
  }
  const session = tempoSession({
    escrow: config.escrow,
    store: config.store,
    recipient: config.recipient,
    currency: config.currency,
    ...config.session,
    onBackgroundError: counted('settlement', config.session?.onBackgroundError ?? logBackgroundError),
  })
  const watcher =
    config.closeWatch &&
    closeWatcher({
      ...config.closeWatch,
      session,
      cursors: config.store,
      onError: counted('close_watch', config.closeWatch.onError ?? logWatchError),
    })
  const sweeper =
    config.sweep && sweeps(config.store)
      ? settlementSweeper({
          ...config.sweep,
          session,
          store: config.store,
          onError: counted('sweep', config.sweep.onError ?? logSweepError),
        })
      : undefined
  const perChannel =
    config.sweep && sweeper === undefined
      ? channelSweeper({
          ...config.sweep,
          session,
          store: config.store,
          onError: counted('sweep', config.sweep.onError ?? logSweepError),
        })
      : undefined
  metrics =
    config.metricsToken === undefined
      ? undefined
      : gatewayMetrics({ session, ...(listsChannels(config.store) ? { channels: config.store } : {}) })
  // The metrics count what the log records (one entry per decided request); the log itself still goes where it did.
  const logger = metrics ? combineLoggers(metrics.record, config.logger ?? consoleLogger) : config.logger
  const streaming = config.streaming === false || config.backend.stream === undefined ? false : streamingSettings(config.streaming)
  const paid = payment({
    realm: config.realm,
    secretKey: config.secretKey,
    method: session,
    challenges: config.store,
    pricing: chatPricing(catalogue, { streaming }),
    servesContent: servesCompletion,
    ...(config.clientAddress ? { clientAddress: config.clientAddress } : {}),
    ...(config.maxBodyBytes ? { maxBodyBytes: config.maxBodyBytes } : {}),
    ...(logger ? { logger } : {}),
  })
  const app = new Hono()
  app.use('*', requestId())
  app.onError(paymentErrorHandler)
  app.notFound(notFound)
  app.get('/health', async (c) => {
    const { status, body } = await health(session)
    return c.json(body, status, { 'Cache-Control': 'no-store' })
  })
  if (metrics !== undefined) {
    app.get('/metrics', bearerAuth({ token: config.metricsToken! }), async (c) =>
      c.body(await metrics.scrape(), 200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' }),
    )
  }
  app.route('/', chatRoutes({ backend: config.backend, catalogue, paid, streaming }))
  app.route(
    '/',
    openApiRoute({ title: config.realm, method: session, currency: config.currency, chainId: config.escrow.chainId, catalogue }),
  )
  return { app, session, watcher, sweeper, channelSweeper: perChannel }
}

const listsChannels = (store: SessionStore): store is SessionStore & ChannelLister =>
  typeof (store as Partial<ChannelLister>).listChannels === 'function'
const sweeps = (store: SessionStore): store is SessionStore & ChannelLister & JobLock =>
  listsChannels(store) && typeof (store as Partial<JobLock>).runExclusive === 'function'

function combineLoggers(first: PaymentLogger, second: PaymentLogger): PaymentLogger {
  return (entry: PaymentLogEntry) => {
    first(entry)
    second(entry)
  }
}
