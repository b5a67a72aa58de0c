// `npm run bench:same-voucher`: what a burst of K concurrent paid requests
// sharing one new voucher costs, next to one request with a new voucher and a
// burst of K requests each with its own new voucher. The real middleware and
// engine over the memory store (bench/fixture.ts). Recoveries are counted
// exactly: each runs after one take of the channel's voucher rate limit, and
// the store counts those takes.
//
//   npm run bench:same-voucher              K = 50, 15 rounds per row
//   npm run bench:same-voucher -- --quick   5 rounds per row (a smoke run)
import type { Hex } from 'viem'
import { signVoucher } from '../../src/session/v1/voucher.js'
import { memoryStore } from '../../src/stores/memory.js'
import type { SessionStore } from '../../src/stores/store.js'
import { paidApp, voucherContext } from './fixture.js'
import { collectGarbage, median } from './harness.js'

const burstSize = 50
const rounds = process.argv.includes('--quick') ? 5 : 15
const log = (line: string) => process.stderr.write(`${line}\n`)

const memory = memoryStore()
let recoveries = 0
const store: SessionStore = {
  ...memory,
  takeRateLimit(key, limit, windowMs, channelId) {
    if (key.startsWith('voucher:')) recoveries++
    return memory.takeRateLimit(key, limit, windowMs, channelId)
  },
}
const app = await paidApp({ channelCount: 1, initialAccepted: 1_000_000n, store })
const channel = app.channels[0]!
let amount = channel.accepted

/** The next new voucher of the channel: above every one before it. */
async function nextVoucher(): Promise<{ channelId: Hex; amount: bigint; signature: Hex }> {
  amount += 1_000_000n
  const { channelId, account } = channel
  return { channelId, amount, signature: await signVoucher(account, voucherContext, { channelId, cumulativeAmount: amount }) }
}

type Row = { name: string; requests: number; ms: number[]; recoveries: number[] }

/** One round: `vouchers[i]` pays request i, all at once; the authorizations (fresh challenges) are made before the clock starts. */
async function round(row: Row, vouchers: Awaited<ReturnType<typeof nextVoucher>>[]) {
  const authorizations = await Promise.all(vouchers.map((voucher) => app.authorization(voucher)))
  collectGarbage()
  const before = recoveries
  const started = performance.now()
  await Promise.all(authorizations.map((authorization) => app.pay(authorization)))
  row.ms.push(performance.now() - started)
  row.recoveries.push(recoveries - before)
}

const single: Row = { name: '1 request, a new voucher', requests: 1, ms: [], recoveries: [] }
const copies: Row = { name: `${burstSize} requests, one new voucher`, requests: burstSize, ms: [], recoveries: [] }
const distinct: Row = { name: `${burstSize} requests, ${burstSize} new vouchers`, requests: burstSize, ms: [], recoveries: [] }

// Warm-up, then the rows interleaved round by round so drift in the machine's load hits each alike.
for (let i = 0; i < 3; i++) await round({ ...single, ms: [], recoveries: [] }, [await nextVoucher()])
for (let i = 0; i < rounds; i++) {
  await round(single, [await nextVoucher()])
  const shared = await nextVoucher()
  await round(
    copies,
    Array.from({ length: burstSize }, () => shared),
  )
  const own: Awaited<ReturnType<typeof nextVoucher>>[] = []
  for (let j = 0; j < burstSize; j++) own.push(await nextVoucher())
  await round(distinct, own)
}

const oneRecoveries = median(single.recoveries)
const oneMs = median(single.ms)
log(`same voucher: ${rounds} rounds per row, medians (recoveries counted, time wall-clock for the whole round)`)
for (const row of [single, copies, distinct]) {
  const ms = median(row.ms)
  const counted = median(row.recoveries)
  log(
    `${row.name.padEnd(34)} ${String(counted).padStart(3)} recoveries (${(counted / oneRecoveries).toFixed(1)}× one request)` +
      `  ${ms.toFixed(2).padStart(7)} ms (${(ms / oneMs).toFixed(1)}× one request, ${((ms * 1000) / row.requests).toFixed(0)} µs a request)`,
  )
}
