// What `npm run ops` prints about channels: one row per channel, amounts in
// base units as exact decimal integers.
import type { ChannelState } from '../session/channel.js'
import { channelExposure, channelStatus } from '../session/exposure.js'

export const columns = ['channel', 'state', 'deposit', 'accepted', 'spent', 'settled', 'settleable', 'exposure', 'last activity'] as const

/** One channel's row, in `columns` order. Last activity: when its last voucher was accepted. */
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
    new Date(state.acceptedAt).toISOString(),
  ]
}

/** The channels as a plain-text table: a header, then one row each; amounts right-aligned. */
export function channelTable(states: readonly ChannelState[]): string {
  const rows = [[...columns], ...states.map(channelRow)]
  const widths = columns.map((_, index) => Math.max(...rows.map((row) => row[index]!.length)))
  const amount = (index: number) => index >= 2 && index <= 7
  return rows
    .map((row) =>
      row
        .map((cell, index) => (amount(index) ? cell.padStart(widths[index]!) : cell.padEnd(widths[index]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** One channel in detail: the row's fields one per line, then what settlement and a close need to know. */
export function channelDetail(state: ChannelState): string {
  const fields: [string, string][] = [
    ...columns.map((name, index): [string, string] => [name, channelRow(state)[index]!]),
    ['payer', state.payer],
    ['authorized signer', state.authorizedSigner],
    ['close requested at', state.closeRequestedAt === 0n ? '-' : new Date(Number(state.closeRequestedAt) * 1000).toISOString()],
    ['close tx', state.closeTxHash ?? '-'],
    ['vouchers kept', state.vouchers.map((voucher) => voucher.amount.toString()).join(', ') || '-'],
    ['chain read at', new Date(state.chainReadAt).toISOString()],
  ]
  const width = Math.max(...fields.map(([name]) => name.length))
  return fields.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')
}
