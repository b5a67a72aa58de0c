// Timing helpers for the benchmark: warm-up, then several timed batches; the
// figure reported is the median batch rate, with the spread across batches so
// a noisy run shows itself.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

// A young-generation collection between preparing a batch and timing it, so
// the garbage the preparation made (signatures, challenges) is not collected on
// the clock. Not a full collection: forcing those ages bytecode, V8 then flushes
// it, and every batch starts by compiling again (measured: 2× slower rows).
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void
export const collectGarbage = () => gc({ type: 'minor' })

export type Rate = {
  /** Median of the batch rates, operations per second. */
  perSecond: number
  /** Median cost of one operation, microseconds (1e6 / perSecond). */
  microseconds: number
  /** Lowest and highest batch rate: how stable the median is. */
  min: number
  max: number
  batches: number
  /** Operations timed in all (warm-up excluded). */
  operations: number
}

export type Batch<T> = {
  /** Untimed: prepares what `size` timed operations consume (e.g. fresh challenges). */
  prepare?: (size: number) => Promise<T> | T
  /** Timed: runs operation `index` of the batch. */
  run: (prepared: T, index: number) => unknown
  /** Untimed: checks or cleans up after a batch. */
  after?: (prepared: T) => Promise<void> | void
}

export type MeasureOptions = {
  /** Timed batches. Default 9. */
  batches?: number
  /** Aimed length of one timed batch, ms. Default 300. */
  batchMs?: number
  /** Warm-up time before the batch size is chosen, ms. Default 400. */
  warmupMs?: number
  /** Largest batch (bounds memory of prepared work). Default 20,000. */
  maxBatch?: number
}

export const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const percentile = (sortedAscending: readonly number[], p: number) => {
  if (sortedAscending.length === 0) return Number.NaN
  const index = Math.min(sortedAscending.length - 1, Math.max(0, Math.ceil((p / 100) * sortedAscending.length) - 1))
  return sortedAscending[index]!
}

async function timeBatch<T>(batch: Batch<T>, size: number): Promise<number> {
  const prepared = (await batch.prepare?.(size)) as T
  collectGarbage()
  const started = performance.now()
  for (let i = 0; i < size; i++) {
    const result = batch.run(prepared, i)
    if (result instanceof Promise) await result
  }
  const elapsed = performance.now() - started
  await batch.after?.(prepared)
  return elapsed
}

/** Warms an operation for `warmupMs` and returns the batch size that lasts about `batchMs`. */
async function warmAndSize<T>(batch: Batch<T>, warmupMs: number, batchMs: number, maxBatch: number): Promise<number> {
  // Growing batches until warmupMs has passed; the last one estimates the rate.
  let size = 8
  let rate = 0
  let warmed = 0
  while (warmed < warmupMs) {
    const elapsed = await timeBatch(batch, size)
    warmed += elapsed
    rate = size / Math.max(elapsed, 0.001)
    if (elapsed < batchMs / 4) size = Math.min(maxBatch, size * 4)
  }
  return Math.max(8, Math.min(maxBatch, Math.round(rate * batchMs)))
}

const summarise = (rates: number[], size: number): Rate => {
  const perSecond = median(rates)
  return {
    perSecond,
    microseconds: 1e6 / perSecond,
    min: Math.min(...rates),
    max: Math.max(...rates),
    batches: rates.length,
    operations: rates.length * size,
  }
}

/**
 * Measures one operation: runs it for `warmupMs` (JIT warm, caches filled),
 * sizes batches to last about `batchMs`, then times `batches` batches.
 */
export async function measure<T>(batch: Batch<T>, options: MeasureOptions = {}): Promise<Rate> {
  const size = await warmAndSize(batch, options.warmupMs ?? 400, options.batchMs ?? 300, options.maxBatch ?? 20_000)
  const rates: number[] = []
  for (let i = 0; i < (options.batches ?? 9); i++) rates.push((size * 1000) / (await timeBatch(batch, size)))
  return summarise(rates, size)
}

/**
 * Measures several operations in alternation: each round times one batch of
 * every operation, back to back. A machine whose load changes during the run
 * (other processes on a shared box) then slows every operation of a round
 * alike, and the ratio of two operations is taken round by round: `ratios[a][b]`
 * is the median over rounds of (cost of a) / (cost of b), and `costDifference`
 * the median over rounds of (cost of a) − (cost of b), in µs.
 */
export async function measureTogether<K extends string>(
  // biome-ignore lint/suspicious/noExplicitAny: each operation prepares a value of its own type
  operations: Record<K, Batch<any> & { maxBatch?: number }>,
  options: MeasureOptions = {},
): Promise<{ rates: Record<K, Rate>; costRatio: (a: K, b: K) => number; costDifference: (a: K, b: K) => number }> {
  const names = Object.keys(operations) as K[]
  const sizes = {} as Record<K, number>
  for (const name of names) {
    const operation = operations[name]
    sizes[name] = await warmAndSize(
      operation,
      options.warmupMs ?? 400,
      options.batchMs ?? 300,
      operation.maxBatch ?? options.maxBatch ?? 20_000,
    )
  }
  const rounds: Record<K, number>[] = []
  for (let round = 0; round < (options.batches ?? 9); round++) {
    const rates = {} as Record<K, number>
    for (const name of names) rates[name] = (sizes[name] * 1000) / (await timeBatch(operations[name], sizes[name]))
    rounds.push(rates)
  }
  const rates = {} as Record<K, Rate>
  for (const name of names)
    rates[name] = summarise(
      rounds.map((round) => round[name]),
      sizes[name],
    )
  return {
    rates,
    costRatio: (a, b) => median(rounds.map((round) => round[b] / round[a])),
    costDifference: (a, b) => median(rounds.map((round) => 1e6 / round[a] - 1e6 / round[b])),
  }
}

/** Runs `task` with `concurrency` workers until `count` operations are done; returns operations per second. */
export async function concurrently(
  count: number,
  concurrency: number,
  task: (index: number, worker: number) => Promise<unknown>,
): Promise<number> {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (next < count) {
        const index = next++
        await task(index, worker)
      }
    }),
  )
  return (count * 1000) / (performance.now() - started)
}

export const formatRate = (perSecond: number) => {
  if (!Number.isFinite(perSecond)) return 'n/a'
  if (perSecond >= 100) return Math.round(perSecond).toLocaleString('en-US')
  return perSecond.toFixed(1)
}
