// What `npm run ops` prints: channels one row each, and what a sweep or a
// reconciliation did; amounts in base units as exact decimal integers.
import type { ChannelState } from '../session/channel.js'
import { channelExposure, channelStatus } from '../session/exposure.js'
import type { Reconciliation } from '../session/reconcile.js'
import { lastActivity } from '../session/sweep.js'
import type { SweepStep } from '../session/sweeper.js'

export const columns = ['channel', 'state', 'deposit', 'accepted', 'spent', 'settled', 'settleable', 'exposure', 'last activity'] as const

/** One channel's row, in `columns` order. Last activity: its last request (reserved or committed) or accepted voucher. */
export function channelRow(state: ChannelState): string[] {
  const { settleable, exposure } = channelExposure(state)
  return [
    state.channelId,
    channelStatus(state),
    state.deposit.toString(),
    state.acceptedCumulative.toString(),
    state.spent.toString(),
    state.settled.toString(),
    settleable.toString(),
    exposure.toString(),
    new Date(lastActivity(state)).toISOString(),
  ]
}

/** A plain-text table: the header, then the rows; the columns `rightAligned` (amounts) padded on the left. */
function table(header: readonly string[], rows: readonly string[][], rightAligned: (index: number) => boolean): string {
  const all = [[...header], ...rows]
  const widths = header.map((_, index) => Math.max(...all.map((row) => (row[index] ?? '').length)))
  return all
    .map((row) =>
      row
        .map((cell, index) => (rightAligned(index) ? cell.padStart(widths[index]!) : cell.padEnd(widths[index]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** The channels as a plain-text table: a header, then one row each; amounts right-aligned. */
export function channelTable(states: readonly ChannelState[]): string {
  return table(columns, states.map(channelRow), (index) => index >= 2 && index <= 7)
}

/** What a sweep did: one row per channel it acted on or found changed, then a count. */
export function sweepTable(step: SweepStep): string {
  const rows = step.lines.map((line) =>
    line.event === 'sweep'
      ? [line.channelId, line.event, line.reason, line.outcome, line.amount ?? '-', line.txHash ?? '-']
      : [
          line.channelId,
          line.event,
          changes(line),
          line.missing ? 'missing on chain' : line.pending ? 'transaction pending' : 'corrected',
          '-',
          '-',
        ],
  )
  const summary = `${step.channels} open channels swept, ${step.reconciled} read from the chain`
  return rows.length === 0
    ? `${summary}; nothing to do`
    : `${table(['channel', 'job', 'why', 'outcome', 'amount', 'tx'], rows, (index) => index === 4)}\n${summary}`
}

/** What a reconciliation found: one row per channel whose store the chain corrected, then a count. */
export function reconcileTable(found: readonly Reconciliation[]): string {
  const differing = found.filter((result) => Object.keys(result.changed).length > 0 || result.missing || result.pending)
  const rows = differing.map((result) => [
    result.channelId,
    result.missing ? 'missing on chain' : result.pending ? 'transaction pending' : changes(result),
  ])
  const summary = `${found.length} open channels read from the chain, ${differing.length} differed`
  return rows.length === 0 ? summary : `${table(['channel', 'store → chain'], rows, () => false)}\n${summary}`
}

const changes = (result: Pick<Reconciliation, 'changed'>) =>
  Object.entries(result.changed)
    .map(([field, change]) => `${field} ${change.store} → ${change.chain}`)
    .join(', ') || '-'

/** One channel in detail: the row's fields one per line, then what settlement and a close need to know. */
export function channelDetail(state: ChannelState): string {
  const fields: [string, string][] = [
    ...columns.map((name, index): [string, string] => [name, channelRow(state)[index]!]),
    ['payer', state.payer],
    ['authorized signer', state.authorizedSigner],
    ['close requested at', state.closeRequestedAt === 0n ? '-' : new Date(Number(state.closeRequestedAt) * 1000).toISOString()],
    ['close tx', state.closeTxHash ?? '-'],
    ['unsettled since', state.unsettledSince === undefined ? '-' : new Date(state.unsettledSince).toISOString()],
    [
      'pending tx',
      state.pendingTransaction
        ? `${state.pendingTransaction.kind} ${state.pendingTransaction.amount} ${state.pendingTransaction.txHash}`
        : '-',
    ],
    ['vouchers kept', state.vouchers.map((voucher) => voucher.amount.toString()).join(', ') || '-'],
    ['chain read at', new Date(state.chainReadAt).toISOString()],
  ]
  const width = Math.max(...fields.map(([name]) => name.length))
  return fields.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')
}
