// The gateway's metrics: counters fed by the payment middleware's log entries
// (one per decided request), and channel totals read from the store at scrape time.
import { ProblemError } from '../errors/payment-error.js'
import type { PaymentLogEntry, PaymentLogger } from '../payment/logger.js'
import type { TempoSession } from '../session/engine.js'
import { channelExposure, channelStatus } from '../session/exposure.js'
import type { ChannelLister } from '../session/store.js'
import { type Family, renderExposition } from './exposition.js'

/** Upper bounds of the latency histogram, in seconds. */
export const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const

export type GatewayMetrics = {
  /** Counts one decided request: pass it the gateway's log entries. */
  record: PaymentLogger
  /** Counts one error of a background job (`close_watch`, `sweep`, `settlement`): what failed outside any request. */
  recordJobError(job: string, error: unknown): void
  /** The exposition: counters so far, and the store's channel totals now (when it can list channels). */
  scrape(): Promise<string>
}

/**
 * The counters live in this instance (each instance is scraped on its own, as
 * Prometheus expects); the channel gauges are the store's, the same from every
 * instance. Totals only, no per-channel label: channels are unbounded, series
 * must not be. Amounts are base units of the channel token.
 */
export function gatewayMetrics(sources: { channels?: ChannelLister; session?: Pick<TempoSession, 'counters'> } = {}): GatewayMetrics {
  const { channels, session } = sources
  const jobErrors = new Map<string, { job: string; code: string; count: number }>()
  const requests = new Map<string, { status: string; code: string; count: number }>()
  const events = new Map<string, number>()
  let charged = 0n
  const bucketCounts = latencyBuckets.map(() => 0)
  let latencyCount = 0
  let latencySumMs = 0

  function record(entry: PaymentLogEntry) {
    const key = `${entry.status} ${entry.code}`
    const counter = requests.get(key) ?? { status: String(entry.status), code: entry.code, count: 0 }
    counter.count++
    requests.set(key, counter)
    for (const event of entry.events ?? []) events.set(event, (events.get(event) ?? 0) + 1)
    // `charged` is what a paid request committed: revenue spent (settled later, in batches).
    if (entry.amounts?.charged !== undefined) charged += BigInt(entry.amounts.charged)
    latencyBuckets.forEach((bound, index) => {
      if (entry.durationMs <= bound * 1000) bucketCounts[index]!++
    })
    latencyCount++
    latencySumMs += entry.durationMs
  }

  function recordJobError(job: string, error: unknown) {
    const code = error instanceof ProblemError ? error.code : error instanceof Error ? error.name : 'unknown'
    const key = `${job} ${code}`
    const counter = jobErrors.get(key) ?? { job, code, count: 0 }
    counter.count++
    jobErrors.set(key, counter)
  }

  async function channelFamilies(): Promise<Family[]> {
    if (channels === undefined) return []
    const byStatus = new Map<string, number>([
      ['open', 0],
      ['closing', 0],
      ['close_requested', 0],
      ['finalized', 0],
    ])
    let spent = 0n
    let settled = 0n
    let settleable = 0n
    let exposure = 0n
    for (const state of await channels.listChannels()) {
      const status = channelStatus(state)
      byStatus.set(status, byStatus.get(status)! + 1)
      spent += state.spent
      settled += state.settled
      // A finalized channel's unsettled remainder can no longer be claimed: it is a loss, not exposure.
      if (status === 'finalized') continue
      const now = channelExposure(state)
      settleable += now.settleable
      exposure += now.exposure
    }
    const gauge = (name: string, help: string, value: bigint): Family => ({ name, help, type: 'gauge', samples: [{ value }] })
    return [
      {
        name: 'mpp_channels',
        help: 'Channels in the store, by state.',
        type: 'gauge',
        samples: [...byStatus].map(([state, count]) => ({ labels: { state }, value: count })),
      },
      gauge('mpp_channel_spent_base_units', 'Charges committed on every channel in the store, cumulative (base units).', spent),
      gauge('mpp_channel_settled_base_units', 'Amounts settled on chain on every channel in the store (base units).', settled),
      gauge(
        'mpp_channel_settleable_base_units',
        'Settleable now on channels not finalized: highest accepted voucher not above spent, less settled (base units).',
        settleable,
      ),
      gauge('mpp_channel_exposure_base_units', 'Spent but not settled on channels not finalized: spent - settled (base units).', exposure),
    ]
  }

  async function scrape() {
    return renderExposition([
      {
        name: 'mpp_requests_total',
        help: 'Requests the payment middleware decided, by HTTP status and code (paid, or the error code).',
        type: 'counter',
        samples: [...requests.values()].map(({ status, code, count }) => ({ labels: { status, code }, value: count })),
      },
      {
        name: 'mpp_revenue_spent_base_units_total',
        help: 'Amounts charged by paid requests of this instance (base units).',
        type: 'counter',
        samples: [{ value: charged }],
      },
      {
        name: 'mpp_payment_events_total',
        help: 'Operator events in the payment log (quote_shortfall, payee_cannot_pay_fees), by event.',
        type: 'counter',
        samples: [...events].map(([event, count]) => ({ labels: { event }, value: count })),
      },
      {
        name: 'mpp_request_duration_seconds',
        help: 'Time the payment middleware took per decided request.',
        type: 'histogram',
        samples: [
          // Each count is already cumulative: `record` adds a request to every bucket at or above it.
          ...latencyBuckets.map((bound, index) => ({ suffix: '_bucket', labels: { le: String(bound) }, value: bucketCounts[index]! })),
          { suffix: '_bucket', labels: { le: '+Inf' }, value: latencyCount },
          { suffix: '_sum', value: latencySumMs / 1000 },
          { suffix: '_count', value: latencyCount },
        ],
      },
      {
        name: 'mpp_background_errors_total',
        help: 'Errors of background jobs outside any request (close watcher, sweeper, settlement), by job and code.',
        type: 'counter',
        samples: [...jobErrors.values()].map(({ job, code, count }) => ({ labels: { job, code }, value: count })),
      },
      ...(session === undefined
        ? []
        : [
            {
              name: 'mpp_voucher_verifications_total',
              help: 'Voucher signatures recovered and checked by this instance.',
              type: 'counter' as const,
              samples: [{ value: session.counters().voucherVerifications }],
            },
          ]),
      ...(await channelFamilies()),
    ])
  }

  return { record, recordJobError, scrape }
}
