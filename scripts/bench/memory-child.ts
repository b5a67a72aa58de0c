// Row 7, run in its own process with --expose-gc (see memory.ts): heap bytes per
// open channel in the memory store. Prints one JSON line.
import type { Address, Hex } from 'viem'
import { acceptVoucher, type ChannelState, fromChain as channelFromChain } from '../../src/session/channel.js'
import { memoryStore } from '../../src/stores/memory.js'

const count = Number(process.argv[2] ?? 100_000)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with --expose-gc')

// Every string is its own heap copy, as it is when each channel's fields come
// from its own RPC response and credential: nothing is shared between channels.
const fresh = (text: string) => Buffer.from(text, 'latin1').toString('latin1')
const randomHex = (bytes: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex')

/** An open channel as the engine stores it: read from the chain, one voucher accepted, one request paid. */
function openChannel(): ChannelState {
  const now = Date.now()
  const channelId = fresh(`0x${randomHex(32)}`) as Hex
  const state = channelFromChain(
    channelId,
    {
      payer: fresh(`0x${randomHex(20)}`) as Address,
      payee: fresh('0x2222222222222222222222222222222222222222') as Address,
      token: fresh('0x20c0000000000000000000000000000000000000') as Address,
      authorizedSigner: fresh('0x0000000000000000000000000000000000000000') as Address,
      deposit: 10_000_000n,
      settled: 0n,
      closeRequestedAt: 0n,
      finalized: false,
    },
    now,
  )
  const accepted = acceptVoucher(state, { amount: 1_000_000n, signature: fresh(`0x${randomHex(64)}1b`) as Hex }, { now })
  return { ...accepted, spent: 1_000n, reservations: {} }
}

const store = memoryStore()
const settle = () => {
  for (let i = 0; i < 4; i++) gc()
}
// Warm the store's code paths and the Map's first growth steps on a throwaway store.
const warm = memoryStore()
for (let i = 0; i < 1_000; i++) {
  const state = openChannel()
  await warm.updateChannel(state.channelId, () => ({ state, result: undefined }))
}
settle()
const before = process.memoryUsage().heapUsed
let last: Hex = '0x'
for (let i = 0; i < count; i++) {
  const state = openChannel()
  await store.updateChannel(state.channelId, () => ({ state, result: undefined }))
  last = state.channelId
}
settle()
const after = process.memoryUsage().heapUsed
// Read after the measurement, so the store is live throughout it.
if ((await store.getChannel(last)) === undefined) throw new Error('the store lost a channel')
process.stdout.write(`${JSON.stringify({ count, bytesPerChannel: (after - before) / count, heapDeltaBytes: after - before })}\n`)
