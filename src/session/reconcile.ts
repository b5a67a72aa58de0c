// Reconciliation (README: Operating a payee): the chain is the authority on a
// channel's deposit, settled amount, close request and finality; the store
// caches them. Reading each open channel afresh corrects the store and makes
// visible what happened outside this gateway: a top-up, a settlement by
// another deployment holding the payee key, a forced close, a close.
import type { Hex } from 'viem'
import { PaymentError } from '../errors/payment-error.js'
import { readChain, resolvePending } from './chain-state.js'
import type { ChannelState } from './channel.js'
import type { SessionContext } from './context.js'

type Field = 'deposit' | 'settled' | 'closeRequestedAt' | 'finalized'
const fields: readonly Field[] = ['deposit', 'settled', 'closeRequestedAt', 'finalized']

/** What reconciling one channel found: each on-chain field the store had wrong (store value → chain value), as strings. */
export type Reconciliation = {
  channelId: Hex
  changed: Partial<Record<Field, { store: string; chain: string }>>
  /** The chain does not know the channel at all. */
  missing?: true
  /** A payee transaction is still waiting to be mined; the channel was left as it is. */
  pending?: true
}

/**
 * Reads one channel of the store from the chain and writes what differs.
 * Skips channels the store already holds as finalized (`undefined`). Resolves
 * an unconfirmed payee transaction first (still in flight: reported, nothing
 * else read).
 */
export async function reconcileChannel(ctx: SessionContext, channelId: Hex): Promise<Reconciliation | undefined> {
  const before = await ctx.store.getChannel(channelId)
  if (before === undefined || before.finalized) return undefined
  if ((await resolvePending(ctx, before)) === undefined) return { channelId, changed: {}, pending: true }
  let after: ChannelState | undefined
  try {
    after = await readChain(ctx, channelId)
  } catch (error) {
    if (!(error instanceof PaymentError)) throw error
    if (error.code === 'mpp_channel_not_found') return { channelId, changed: {}, missing: true }
    if (error.code !== 'mpp_channel_finalized') throw error
    after = await ctx.store.getChannel(channelId)
  }
  const changed: Reconciliation['changed'] = {}
  for (const field of fields) {
    if (after !== undefined && after[field] !== before[field])
      changed[field] = { store: String(before[field]), chain: String(after[field]) }
  }
  return { channelId, changed }
}
